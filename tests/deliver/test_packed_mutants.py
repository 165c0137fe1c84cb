"""bridge/deliver/packed.py survivors of make mutation (docs/reliability.md): the switch that
forces the pure-Python path (which the C-vs-Python differential tests rely on) and within()'s
time window at its bounds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.deliver import packed
from bridge.model import Record

REPO = Path(__file__).resolve().parents[2]


def _uses_c(value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "CTBRIDGE_PURE_PYTHON"}
    if value is not None:
        env["CTBRIDGE_PURE_PYTHON"] = value
    res = subprocess.run([sys.executable, "-c", "import bridge.deliver.packed as p; print(p._C is not None)"],
                         cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return res.stdout.strip()


def test_ctbridge_pure_python_switches_the_c_fast_path_off() -> None:
    if _uses_c(None) != "True":
        pytest.skip("bridge.deliver._fastpack is not built here (pure-Python install)")
    assert _uses_c("1") == "False"
    assert _uses_c("yes") == "False"
    assert _uses_c("0") == "True"
    assert _uses_c("") == "True"


def _entries(p: packed.Packed) -> list[tuple[int, bytes]]:
    out, start = [], 0
    for end in p.ends:
        ts, n = packed._ENTRY.unpack_from(p.data, start)
        out.append((ts, p.data[start + packed._ENTRY.size:end]))
        assert n == end - start - packed._ENTRY.size
        start = end
    return out




def _three(lo: int, hi: int) -> packed.Packed:
    """Records at lo - 1, lo, hi - 1 and hi; the longest is the one at hi (outside)."""
    recs = [Record(b'{"a":1}', lo - 1, "f#0", "e0"), Record(b'{"bb":22}', lo, "f#1", "e1"),
            Record(b'{"c":3}', hi - 1, "f#2", "e2"), Record(b'{"dddd":4444}', hi, "f#3", "e3")]
    return packed.pack_items("f", recs)


@pytest.mark.parametrize("ts_range", [None, "exact"])
def test_within_keeps_lo_drops_hi_and_recomputes_what_it_copies(ts_range: str | None) -> None:
    lo, hi = 1_000, 2_000
    p = _three(lo, hi)
    if ts_range:
        p.ts_range = (lo - 1, hi)  # known, and not inside [lo, hi): each entry is looked at
    got = packed.within(p, lo, hi)
    assert [(ts, raw) for ts, raw in _entries(got)] == [(lo, b'{"bb":22}'), (hi - 1, b'{"c":3}')]
    assert got.keys == [p.keys[1], p.keys[2]] and got.keys[0] != 0
    assert got.max_len == len(b'{"bb":22}')  # the longest record (at hi) is gone
    assert got.ends == [packed._ENTRY.size + 9, 2 * packed._ENTRY.size + 9 + 7]


def test_within_returns_the_same_packed_only_when_every_entry_is_inside() -> None:
    lo, hi = 1_000, 2_000
    p = _three(lo, hi)
    p.ts_range = (lo - 1, hi)
    assert packed.within(p, lo - 1, hi + 1) is p  # the range says all are inside
    p.ts_range = (lo, hi)  # a range that ends exactly at hi is not inside [lo, hi)
    assert packed.within(p, lo, hi) is not p
    p.ts_range = None
    assert packed.within(p, lo - 1, hi + 1) is p  # every entry looked at, all kept: no copy


def test_pack_items_goes_on_after_a_time_outside_the_range() -> None:
    recs = [Record(b'{"a":1}', 2**64, "f#0", "e0"), Record(b'{"b":2}', 5, "f#1", "e1")]
    p = packed.pack_items("f", recs)
    assert [b.origin for b in p.bad] == ["f#0"] and "outside 1970..2554" in p.bad[0].reason
    assert _entries(p) == [(5, b'{"b":2}')]
    assert [(r.origin, r.raw, r.ts_ns) for r in p.records()] == [("f#0", b'{"b":2}', 5)]


@pytest.mark.parametrize("pure", [False, True])
def test_an_eventid_only_in_a_nested_object_is_not_the_records(pure: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by make fuzz-py (packed_vs_stream): the fast split took the only `"eventID":"` of a
    record, inside a nested object, as the record's dedup key; the parser (and the plugin's
    ct.id) says the record has none. Such a file now goes to the parser."""
    if pure:
        monkeypatch.setattr(packed, "_C", None)
    nested = b'{"Records":[{"eventVersion":"1.08","eventTime":"2026-11-20T10:16:40Z","x":{"eventID":"e1","y":"}"}}]}'
    assert packed.fast_pack("f", nested, 1 << 20) is None
    top = b'{"Records":[{"eventVersion":"1.08","eventTime":"2026-11-20T10:16:40Z","x":{"y":"}"},"eventID":"e1","z":[{"a":"]"}]}]}'
    got = packed.fast_pack("f", top, 1 << 20)
    assert got is not None and got.keys == [packed.record_key("e1")]
