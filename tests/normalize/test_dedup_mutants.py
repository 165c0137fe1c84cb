"""bridge/normalize/dedup.py's contracts that make mutation left unchecked: the smallest limit, the
memory bound with an odd limit, the duplicates counters, keys 0 in seen_keys, WindowDedup and the
persisted stable_hash."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bridge.model import Record
from bridge.normalize.dedup import Dedup, WindowDedup, stable_hash


def r(event_id: str | None) -> Record:
    return Record(raw=b"{}", ts_ns=0, origin="t", event_id=event_id)


@pytest.mark.parametrize("cls", [Dedup, WindowDedup])
def test_two_entries_is_the_smallest_limit_and_works(cls: type[Dedup] | type[WindowDedup]) -> None:
    with pytest.raises(ValueError, match=r"^max_entries must be at least 2, got 1$"):
        cls(max_entries=1)
    d = cls(max_entries=2)
    if isinstance(d, Dedup):
        assert not d.seen(r("a")) and d.seen(r("a"))
    else:
        assert d.check("a") and d.check("a") is None


@pytest.mark.parametrize("limit", [3, 5, 7])
def test_odd_limits_bound_memory(limit: int) -> None:
    d, w = Dedup(max_entries=limit), WindowDedup(max_entries=limit)
    for i in range(50):
        d.seen(r(f"id-{i}"))
        w.check(f"id-{i}")
        assert len(d) <= limit and len(w) <= limit, (i, len(d), len(w))


def test_dedup_counts_each_duplicate_once_from_either_generation() -> None:
    d = Dedup(max_entries=4)  # generations of 2
    d.seen(r("a"))
    d.seen(r("b"))
    d.seen(r("c"))  # a, b now in the old generation
    assert d.seen(r("a")) and d.duplicates == 1  # old-generation hit
    assert d.seen(r("a")) and d.duplicates == 2  # refreshed into the young one
    assert d.seen_keys([hash("c"), hash("zz"), hash("c")]) == [0, 2] and d.duplicates == 4


def test_keys_without_event_id_take_no_memory_in_seen_keys() -> None:
    d = Dedup(max_entries=100)
    assert d.seen_keys([0, 5, 6]) == []
    assert len(d) == 2
    assert d.seen_keys([1, 0, 5, 0]) == [2]
    assert len(d) == 3


def test_repeats_inside_one_batch_are_duplicates() -> None:
    assert Dedup(max_entries=100).seen_keys([5, 6, 5]) == [2]
    d = Dedup(max_entries=100)
    d.seen_keys([1, 2])
    assert d.seen_keys([3, 4, 4, 3]) == [2, 3] and d.duplicates == 2


def test_window_dedup_check_forget_preload() -> None:
    w = WindowDedup(max_entries=4)
    assert w.check(None) == 0 and w.check("") == 0 and len(w) == 0
    h = w.check("a")
    assert h == stable_hash("a")
    assert w.check("a") is None and w.duplicates == 1
    w.check("b")
    w.check("c")  # a, b to the old generation
    assert w.check("a") is None and w.duplicates == 2  # old hit, refreshed
    w.check("d")
    w.check("e")  # the young generation (a, d) turns old; b, c are forgotten
    assert w.check("a") is None and w.duplicates == 3
    assert w.check("b") == stable_hash("b")
    w.forget(stable_hash("b"))
    assert w.check("b") == stable_hash("b")  # forgotten: goes through again
    w2 = WindowDedup(max_entries=10)
    w2.preload([stable_hash("x"), stable_hash("y")])
    assert w2.check("x") is None and w2.check("y") is None and w2.duplicates == 2 and len(w2) == 2
    w2.forget(stable_hash("x"))
    assert len(w2) == 1


def test_window_dedup_forget_reaches_the_old_generation() -> None:
    w = WindowDedup(max_entries=4)
    for e in ("a", "b", "c"):
        w.check(e)  # a, b old
    w.forget(stable_hash("a"))
    assert w.check("a") == stable_hash("a")


def test_stable_hash_is_fixed_63_bit_and_the_same_in_another_process() -> None:
    # Checkpoints store these hashes (Checkpoints.add_seen): the function must never change.
    assert stable_hash("e9a8b7c6-d5e4-4f3a-b2c1-d0e9f8a7b605") == 135297820202167487
    assert stable_hash("\udcff") == 5864644147179196391  # lone surrogate from a broken log file
    assert stable_hash("é") == 1697006002183834981
    code = "from bridge.normalize.dedup import stable_hash; print(stable_hash('e9a8b7c6-d5e4-4f3a-b2c1-d0e9f8a7b605'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == 135297820202167487
    assert all(0 <= stable_hash(f"id-{i}") < 2**63 for i in range(1000))


def test_window_dedup_keys_computed_elsewhere() -> None:
    w = WindowDedup(max_entries=10)
    assert w.check_key(0) == 0 and len(w) == 0  # no eventID: nothing remembered
    h = stable_hash("k")
    assert w.check_key(h) == h and w.check_key(h) is None and w.duplicates == 1
    assert w.check_keys([0, h, stable_hash("m"), stable_hash("m"), 0]) == [1, 3]
    assert len(w) == 2


def test_a_big_batch_keeps_the_memory_bound() -> None:
    d = Dedup(max_entries=10)
    assert d.seen_keys(list(range(1, 21))) == []
    assert len(d) <= 10
    assert d.seen_keys(list(range(16, 21))) == [0, 1, 2, 3, 4]  # the newest half is remembered
