from __future__ import annotations

import pytest

from bridge.model import Record
from bridge.normalize.dedup import Dedup


def r(event_id: str | None) -> Record:
    return Record(raw=b"{}", ts_ns=0, origin="t", event_id=event_id)


def test_second_sighting_is_a_duplicate() -> None:
    d = Dedup()
    assert d.seen(r("a")) is False
    assert d.seen(r("b")) is False
    assert d.seen(r("a")) is True
    assert d.seen(r("a")) is True
    assert d.duplicates == 2


def test_records_without_event_id_are_never_duplicates() -> None:
    d = Dedup()
    assert not any(d.seen(r(None)) for _ in range(5))
    assert not any(d.seen(r("")) for _ in range(5))
    assert len(d) == 0


def test_memory_is_bounded_and_recent_ids_survive() -> None:
    d = Dedup(max_entries=1000)
    for i in range(10_000):
        d.seen(r(f"id-{i}"))
        assert len(d) <= 1000
    # The last half of the window is always remembered ...
    assert all(d.seen(r(f"id-{i}")) for i in range(9_500, 10_000))
    # ... and the oldest are forgotten.
    assert not d.seen(r("id-0"))


def test_a_hit_refreshes_the_entry() -> None:
    d = Dedup(max_entries=100)
    d.seen(r("keep"))
    for i in range(1000):
        d.seen(r(f"x{i}"))
        if i % 40 == 0:
            assert d.seen(r("keep"))
    assert d.seen(r("keep"))


def test_tiny_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        Dedup(max_entries=1)
