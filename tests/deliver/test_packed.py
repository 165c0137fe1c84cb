"""Replay's fast path (bridge.deliver.packed + PluginClient.send_packed): the same records, bytes
and eventID dedup keys as normalize.stream, and the same batches as send()."""

from __future__ import annotations

import gzip
import json
import random
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.deliver.packed import (
    Big,
    Packed,
    _records,
    fast_pack,
    file_items,
    pack_file,
    pack_items,
    packed_files,
    record_key,
    within,
)
from bridge.deliver.socket_client import PluginClient
from bridge.model import BadItem, Record
from bridge.normalize.dedup import stable_hash
from bridge.normalize.stream import _FIRST, _SEP

from tests.deliver.test_socket_client import StandInPlugin

_ENTRY = struct.Struct("<QI")


def record(i: int, **extra: object) -> dict[str, object]:
    r: dict[str, object] = {"eventVersion": "1.09", "userIdentity": {"type": "IAMUser", "arn": f"arn:{i}"},
                            "eventTime": f"2024-05-01T00:00:{i % 60:02d}Z", "eventName": "GetObject",
                            "requestParameters": {"bucketName": "b", "key": "k\u00e9\"{["},
                            "eventID": f"00000000-0000-4000-8000-{i:012d}", "eventType": "AwsApiCall"}
    r.update(extra)
    return r


def log_file(records: list[dict[str, object]]) -> bytes:
    return json.dumps({"Records": records}, separators=(",", ":"), ensure_ascii=False).encode()


def write(tmp: Path, name: str, data: bytes) -> str:
    p = tmp / name
    p.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return str(p)


def entries(p: Packed) -> list[tuple[int, bytes]]:
    out, start = [], 0
    for end in p.ends:
        ts, size = _ENTRY.unpack_from(p.data, start)
        out.append((ts, p.data[start + 12:end]))
        assert len(out[-1][1]) == size
        start = end
    return out


def slow(path: str) -> Packed:
    return pack_items(path, file_items(path, 4 << 20))


def test_fast_split_matches_the_parsing_splitter(tmp_path: Path) -> None:
    path = write(tmp_path, "a.json.gz", log_file([record(i) for i in range(50)]))
    fast = pack_file(path, 4 << 20)
    assert (fast.data, fast.ends, fast.keys) == (slow(path).data, slow(path).ends, slow(path).keys)
    assert len(fast.ends) == 50 and not fast.bad
    ts, raw = entries(fast)[7]
    assert json.loads(raw) == record(7)  # the bytes as written, not re-encoded
    assert ts == 1714521607 * 10**9
    assert fast.keys[7] == stable_hash("00000000-0000-4000-8000-000000000007") == record_key(record(7)["eventID"])  # type: ignore[arg-type]


@pytest.mark.parametrize("why, rec", [
    ("a nested object keyed eventVersion first", record(1, requestParameters={"x": [{"a": 1}, {"eventVersion": "x"}]})),
    ("an escape in eventID", {**record(1), "eventID": "a\"b"}),
    ("two eventID keys", record(1, responseElements={"eventID": "inner"})),
    ("no eventID", {k: v for k, v in record(1).items() if k != "eventID"}),
    ("eventTime not RFC 3339", record(1, eventTime="yesterday")),
])
def test_unusual_records_fall_back_to_the_parsing_splitter(tmp_path: Path, why: str, rec: dict[str, object]) -> None:
    data = log_file([record(0), rec, record(2)])
    assert fast_pack("x.json", data, 4 << 20) is None, why
    path = write(tmp_path, "x.json", data)
    packed = pack_file(path, 4 << 20)
    expect = slow(path)
    assert (packed.data, packed.ends, packed.keys, packed.bad) == (expect.data, expect.ends, expect.keys, expect.bad)


def test_other_shapes_and_damage_go_through_normalize(tmp_path: Path) -> None:
    lines = write(tmp_path, "l.jsonl", b"\n".join(json.dumps(record(i)).encode() for i in range(3)))
    assert len(pack_file(lines, 4 << 20).ends) == 3
    pretty = write(tmp_path, "p.json", json.dumps({"Records": [record(0), record(1)]}, indent=2).encode())
    assert len(pack_file(pretty, 4 << 20).ends) == 2
    full = gzip.compress(log_file([record(i) for i in range(20)]))
    broken = tmp_path / "t.json.gz"
    broken.write_bytes(full[: len(full) // 2])
    p = pack_file(str(broken), 4 << 20)
    assert p.bad and "gzip" in p.bad[0].reason
    empty = write(tmp_path, "e.json.gz", b'{"Records":[]}')
    assert pack_file(empty, 4 << 20).ends == []
    gone = pack_file(str(tmp_path / "missing.json"), 4 << 20)
    assert gone.bad and "cannot read" in gone.bad[0].reason


def test_big_files_are_left_to_stream_and_order_is_kept(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    names = []
    for n in range(5):
        names.append(write(tmp_path / "d", f"f{n}.json.gz", log_file([record(n * 10 + i) for i in range(10)])))
    (tmp_path / "d" / "notes.txt").write_text("ignored")
    big = write(tmp_path / "d", "f2.json.gz", log_file([record(100 + i) for i in range(300)]))
    for workers in (1, 2):
        units = list(packed_files([str(tmp_path / "d")], workers=workers, stream_bytes=2000))
        kinds = [u.path if isinstance(u, Big) else u.name for u in units if not isinstance(u, BadItem)]
        assert kinds == sorted(names)
        assert isinstance(units[2], Big) and units[2].path == big
    assert [json.loads(r.raw)["eventID"] for r in file_items(big, 4 << 20) if isinstance(r, Record)][:1] == \
        [record(100)["eventID"]]


def _close(plugin: StandInPlugin) -> None:
    try:
        plugin.close()
    except OSError:
        pass  # the stand-in's session closed the connection under kick(): nothing left to stop


def _frames(tmp_path: Path, packs: Iterator[tuple[bytes, list[int], list[int]]], **kw: int) -> StandInPlugin:
    plugin = StandInPlugin(str(tmp_path / "s.sock"), max_batch_events=kw.pop("max_batch_events", 512))
    try:
        client = PluginClient(str(tmp_path / "s.sock"), **kw)
        client.connect()
        for data, ends, skip in packs:
            client.send_packed(data, ends, skip)
        client.finish(timeout=10)
    finally:
        _close(plugin)
    return plugin


@pytest.mark.parametrize("kw", [{"batch_events": 7}, {"batch_bytes": 4096}, {"max_batch_events": 5},
                                {"batch_events": 512}])
def test_send_packed_batches_like_send(tmp_path: Path, kw: dict[str, int]) -> None:
    recs = [Record(b'{"eventID":"%d","pad":"%s"}' % (i, b"x" * (i * 37 % 900)), 1000 + i, f"r#{i}") for i in range(60)]
    packs = [pack_items("a", recs[:25]), pack_items("b", recs[25:26]), pack_items("c", recs[26:])]
    skip = {0: [0, 3, 4, 24], 1: [], 2: [33]}
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    got = _frames(tmp_path / "one", iter([(p.data, p.ends, skip[n]) for n, p in enumerate(packs)]), **kw)
    kept = [r for r in recs if r not in (recs[0], recs[3], recs[4], recs[24], recs[26 + 33])]
    plugin = StandInPlugin(str(tmp_path / "two" / "s.sock"), max_batch_events=kw.get("max_batch_events", 512))
    try:
        client = PluginClient(str(tmp_path / "two" / "s.sock"), **{k: v for k, v in kw.items() if k != "max_batch_events"})
        for r in kept:
            client.send(r)
        client.finish(timeout=10)
    finally:
        _close(plugin)
    assert got.records == plugin.records == [(r.ts_ns, r.raw) for r in kept]
    assert got.batch_sizes == plugin.batch_sizes


@pytest.mark.parametrize("workers", [1, 2])
def test_replay_fast_path_dedups_quarantines_and_keeps_order(tmp_path: Path, workers: int) -> None:
    from bridge.app import ReplayOptions, ReplayReport, _fast_path, _stream_packed
    from bridge.normalize.quarantine import Quarantine

    d = tmp_path / "logs"
    d.mkdir()
    write(d, "1.json.gz", log_file([record(i) for i in range(10)]))
    write(d, "2.json.gz", log_file([record(i) for i in range(5, 15)]))  # 5..9 repeat
    (d / "3.json.gz").write_bytes(b"\x1f\x8bnot really")
    write(d, "4.jsonl", json.dumps(record(20)).encode() + b"\n{oops\n")
    opts = ReplayOptions(paths=[str(d)], rules=[], plugin_path="x", read_workers=workers)
    assert _fast_path(opts)
    assert not _fast_path(ReplayOptions(paths=["s3://b/p"], rules=[], plugin_path="x"))
    plugin = StandInPlugin(str(tmp_path / "s.sock"))
    quarantine, report = Quarantine(None), ReplayReport()
    try:
        client = PluginClient(str(tmp_path / "s.sock"), batch_events=4)
        _stream_packed(client, opts, quarantine, report)
        client.finish(timeout=10)
    finally:
        _close(plugin)
    ids = [json.loads(raw)["eventID"] for _, raw in plugin.records]
    assert ids == [record(i)["eventID"] for i in [*range(15), 20]]
    assert report.records == 16 and report.duplicates == 5
    assert quarantine.count == 2  # the broken gzip, the bad JSON line


def test_seen_keys_agrees_with_seen_key_one_by_one() -> None:
    import random

    from bridge.normalize.dedup import Dedup

    rng = random.Random(3)
    a, b = Dedup(max_entries=40), Dedup(max_entries=40)
    for _ in range(300):
        keys = [rng.choice([0, *range(1, 60)]) for _ in range(rng.randint(0, 12))]
        assert a.seen_keys(keys) == [i for i, k in enumerate(keys) if k and b.seen_key(k)]
        assert a.duplicates == b.duplicates and len(a) == len(b)


def test_record_bounds_are_the_regex_separators() -> None:
    """_records (bytes.find and a look back) cuts exactly where _SEP.finditer does, whatever the
    whitespace around the comma and wherever `{"eventVersion"` also occurs without a separator."""
    def by_regex(data: bytes, start: int, end: int) -> list[int]:
        out: list[int] = []
        for sep in _SEP.finditer(data, start, end):
            out += (start, sep.start() + 1)
            start = sep.end() - len(_FIRST)
        return [*out, start, end]

    pieces = [b'{"eventVersion":"1","a":1}', b',', b', ', b' ,\n', b'\t,\x0b', b',\x0c', b'[', b':',
              b'{"eventVersion":2}', b'"{\\"eventVersion\\"', b'}', b' ', b'{"eventVersion"']
    rng = random.Random(5)
    for _ in range(3000):
        data = _FIRST + b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        for start, end in ((0, len(data)), (0, max(0, len(data) - rng.randint(0, 20)))):
            if data.startswith(_FIRST, start):
                assert _records(data, start, end) == by_regex(data, start, end), data


def test_within_uses_the_known_time_range() -> None:
    data = json.dumps({"Records": [record(i) for i in range(5)]}, separators=(",", ":")).encode()
    packed = fast_pack("x.json", data, 4 << 20)
    assert packed is not None and packed.ts_range is not None
    lo, hi = packed.ts_range
    assert within(packed, lo, hi + 1) is packed  # all in: no copy, no look at each entry
    part = within(packed, lo + 1, hi + 1)
    assert len(part.ends) == 4 and part.ts_range is None
    assert [r.event_id for r in part.records()] == [r.event_id for r in packed.records()][1:]


@pytest.mark.parametrize("tail", [b'"a":"eventID":"eventID":"id1"}', b'"a":"eventID":"eventID":"x","eventID":"id1"}',
                                  b'"eventID":"id0","eventID":"id1"}'])
def test_a_second_eventID_key_even_overlapping_sends_the_file_to_the_parser(tail: bytes) -> None:
    """Two `"eventID":"` in one record, also the self-overlapping `"eventID":"eventID":"` (which
    count() sees as one): not split here."""
    good = b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z","eventID":"g"}'
    rec = b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z",' + tail
    assert fast_pack("x.json", b'{"Records":[' + good + b"," + rec + b"]}", 4 << 20) is None
    assert fast_pack("x.json", b'{"Records":[' + good + b"," + good + b"]}", 4 << 20) is not None
