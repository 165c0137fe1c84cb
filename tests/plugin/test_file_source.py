"""file:// through the real ABI: every file form, event layout, batching, EOF, progress, metrics."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import pytest
from plugin_abi import (
    PAYLOAD_OFFSET,
    PLUGINEVENT_TYPE,
    SS_PLUGIN_EOF,
    SS_PLUGIN_SUCCESS,
    SS_PLUGIN_TIMEOUT,
    Event,
    PluginError,
    PluginLib,
    PluginState,
)
from plugin_samples import log_file_text, make_record, ts_of


def read_all(state: PluginState, params: str) -> list[Event]:
    inst = state.open(params)
    try:
        events = inst.read_all()
        # The source stays ended.
        assert inst.next_batch() == (SS_PLUGIN_EOF, [])
        return events
    finally:
        inst.close()


def write_log(path: Path, first: int, count: int, gz: bool = False) -> list[bytes]:
    body, texts = log_file_text([make_record(first + i) for i in range(count)])
    path.write_bytes(gzip.compress(body) if gz else body)
    return texts


def write_jsonl(path: Path, first: int, count: int, gz: bool = False) -> list[bytes]:
    texts = [json.dumps(make_record(first + i), separators=(",", ":")).encode() for i in range(count)]
    body = b"\n".join(texts) + b"\n"
    path.write_bytes(gzip.compress(body) if gz else body)
    return texts


@pytest.mark.parametrize(
    ("name", "writer", "gz"),
    [
        ("cloudtrail.json", write_log, False),
        ("cloudtrail.json.gz", write_log, True),
        ("records.jsonl", write_jsonl, False),
        ("records.jsonl.gz", write_jsonl, True),
    ],
)
def test_each_file_form(state: PluginState, tmp_path: Path, name: str, writer: object, gz: bool) -> None:
    path = tmp_path / name
    texts = writer(path, 0, 25, gz)  # type: ignore[operator]
    events = read_all(state, f"file://{path}")
    assert [e.payload for e in events] == texts  # original bytes, in order
    assert [e.ts for e in events] == [ts_of(i) for i in range(25)]
    assert state.metrics()["ctbridge.records"] == 25


def test_binary_event_layout(plugin_lib: PluginLib, state: PluginState, tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    texts = write_log(path, 7, 1)
    (event,) = read_all(state, f"file://{path}")
    raw = event.raw
    n = len(texts[0])
    ts, tid, length, etype, nparams = struct.unpack_from("<QQIHI", raw, 0)
    assert ts == ts_of(7) == 1714564807 * 10**9
    assert tid == 2**64 - 1
    assert length == len(raw) == 38 + n == PAYLOAD_OFFSET + n
    assert etype == PLUGINEVENT_TYPE == 322
    assert nparams == 2
    assert struct.unpack_from("<III", raw, 26) == (4, n, plugin_lib.id)
    assert raw[38:] == texts[0]


def test_directory_is_walked_recursively_in_lexical_order(state: PluginState, tmp_path: Path) -> None:
    # Per-directory lexical order, like Go's filepath.Walk: "a/..." before "a-b.json" ('/' is a
    # directory boundary, not a character compared with '-').
    root = tmp_path / "logs"
    (root / "a" / "z").mkdir(parents=True)
    (root / "b").mkdir()
    expected: list[bytes] = []
    expected += write_log(root / "a" / "1.json.gz", 0, 3, gz=True)
    expected += write_log(root / "a" / "2.json", 3, 2)
    expected += write_jsonl(root / "a" / "z" / "x.jsonl", 5, 2)
    expected += write_log(root / "a-b.json", 7, 1)
    expected += write_jsonl(root / "b" / "c.jsonl.gz", 8, 4, gz=True)
    (root / "b" / "notes.txt").write_text("not a log")
    (root / "b" / "digest.json.sig").write_bytes(b"\x00\x01")
    events = read_all(state, f"file://{root}")
    assert [e.payload for e in events] == expected
    assert [e.ts for e in events] == [ts_of(i) for i in range(12)]


def test_batches_respect_max_batch_events(plugin_lib: PluginLib, tmp_path: Path) -> None:
    path = tmp_path / "ct.json"
    texts = write_log(path, 0, 10)
    st = plugin_lib.init('{"maxBatchEvents": 3}')
    try:
        inst = st.open(f"file://{path}")
        sizes: list[int] = []
        got: list[bytes] = []
        while True:
            rc, events = inst.next_batch()
            assert rc in (SS_PLUGIN_SUCCESS, SS_PLUGIN_TIMEOUT, SS_PLUGIN_EOF)
            assert not (rc == SS_PLUGIN_SUCCESS and not events), "SUCCESS with 0 events"
            sizes.append(len(events))
            got += [e.payload for e in events]
            if rc == SS_PLUGIN_EOF:
                break
        inst.close()
    finally:
        st.destroy()
    assert got == texts
    assert max(sizes) == 3 and sizes[:3] == [3, 3, 3]


def test_progress_reaches_10000(state: PluginState, tmp_path: Path) -> None:
    for i in range(4):
        write_log(tmp_path / f"f{i}.json", i * 5, 5)
    inst = state.open(f"file://{tmp_path}")
    seen = [inst.progress()[1]]
    assert seen[0] == 0
    while True:
        rc, _ = inst.next_batch()
        seen.append(inst.progress()[1])
        if rc == SS_PLUGIN_EOF:
            break
    text, pct = inst.progress()
    inst.close()
    assert pct == 10000
    assert text == "4/4 files"
    assert seen == sorted(seen)  # never goes backwards
    assert all(0 <= p <= 10000 for p in seen)


def test_progress_within_one_file(plugin_lib: PluginLib, tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    write_log(path, 0, 10)
    st = plugin_lib.init('{"maxBatchEvents": 5}')
    try:
        inst = st.open(f"file://{path}")
        inst.next_batch()
        assert inst.progress()[1] == 5000
        inst.close()
    finally:
        st.destroy()


def test_event_time_forms(state: PluginState, tmp_path: Path) -> None:
    times = {
        "2024-05-01T12:00:00Z": 1714564800 * 10**9,
        "2024-05-01T12:00:00.5Z": 1714564800 * 10**9 + 500_000_000,
        "2024-05-01T12:00:00.123456789Z": 1714564800 * 10**9 + 123_456_789,
        "2024-05-01T14:00:00+02:00": 1714564800 * 10**9,
        "2024-05-01T07:30:00-04:30": 1714564800 * 10**9,
        "2024-02-29T00:00:00Z": 1709164800 * 10**9,
    }
    recs = [make_record(0, eventTime=t) for t in times]
    body, texts = log_file_text(recs)
    (tmp_path / "t.json").write_bytes(body)
    events = read_all(state, f"file://{tmp_path / 't.json'}")
    assert [e.ts for e in events] == list(times.values())
    assert [e.payload for e in events] == texts


def test_other_document_shapes(state: PluginState, tmp_path: Path) -> None:
    # A bare array of records and a single record object are read too.
    recs = [make_record(i) for i in range(3)]
    (tmp_path / "a.json").write_text(json.dumps(recs))
    (tmp_path / "b.json").write_text(json.dumps(make_record(3), indent=1))
    events = read_all(state, f"file://{tmp_path}")
    assert [json.loads(e.payload) for e in events] == recs + [make_record(3)]
    assert events[3].payload == json.dumps(make_record(3), indent=1).encode()


def test_concatenated_gzip_members(state: PluginState, tmp_path: Path) -> None:
    texts = [json.dumps(make_record(i)).encode() for i in range(4)]
    path = tmp_path / "multi.jsonl.gz"
    path.write_bytes(gzip.compress(texts[0] + b"\n" + texts[1] + b"\n") + gzip.compress(texts[2] + b"\n" + texts[3]))
    assert [e.payload for e in read_all(state, f"file://{path}")] == texts


def test_jsonl_blank_and_crlf_lines(state: PluginState, tmp_path: Path) -> None:
    texts = [json.dumps(make_record(i)).encode() for i in range(3)]
    path = tmp_path / "w.jsonl"
    path.write_bytes(b"\r\n" + texts[0] + b"\r\n\n   \n" + texts[1] + b"\r\n" + texts[2])
    assert [e.payload for e in read_all(state, f"file://{path}")] == texts


def test_bom_and_empty_records_file(state: PluginState, tmp_path: Path) -> None:
    body, texts = log_file_text([make_record(0)])
    (tmp_path / "1.json").write_bytes(b"\xef\xbb\xbf" + body)
    (tmp_path / "2.json").write_bytes(b'{"Records":[]}')
    assert [e.payload for e in read_all(state, f"file://{tmp_path}")] == texts
    assert state.metrics()["ctbridge.bad_inputs"] == 0


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p / "missing", ["no such file"]),
        (lambda p: p, ["holds no .json"]),
        (lambda p: (p / "x.txt").write_text("{}") and p / "x.txt", ["not a .json"]),
    ],
)
def test_open_errors(state: PluginState, tmp_path: Path, make: object, words: list[str]) -> None:
    target = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(PluginError) as info:
        state.open(f"file://{target}")
    for word in words:
        assert word in str(info.value)
    assert str(target) in str(info.value)


def test_reopen_reads_again(state: PluginState, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    texts = write_log(path, 0, 3)
    assert [e.payload for e in read_all(state, f"file://{path}")] == texts
    assert [e.payload for e in read_all(state, f"file://{path}")] == texts
    assert state.metrics()["ctbridge.records"] == 6
