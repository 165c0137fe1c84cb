"""The bridge's parsers as fuzz targets: each takes bytes and raises AssertionError (or any
exception other than the project's own InputError / ConfigError / ProtocolError) when a promise
is broken. run_atheris.py drives them under atheris (coverage-guided); test_fuzz_corpus.py
replays their seeds and every saved crash in CI, with or without atheris.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Callable
from pathlib import Path

import orjson

from bridge.deliver import packed, protocol
from bridge.errors import ConfigError, InputError, ProtocolError
from bridge.model import BadItem, Blob, Record
from bridge.normalize.logfile import records_from_blob
from bridge.normalize.notifications import Notice, Unknown, read_message
from bridge.normalize.stream import records_from_chunks

_NAMES = ("t.json", "t.json.gz", "t.jsonl", "t.ndjson.gz", "noext")
_LIMIT = 64 * 1024  # a small record limit, so that the fuzzer reaches the size checks


def _check_items(items: list[Record | BadItem]) -> None:
    for it in items:
        assert isinstance(it, (Record, BadItem)), type(it)
        if isinstance(it, Record):
            assert isinstance(it.raw, bytes) and 0 < len(it.raw) <= _LIMIT
            assert 0 <= it.ts_ns < 2**64
        else:
            assert it.reason, "a BadItem must say why"


def logfile(data: bytes) -> None:
    """Any bytes under any name (and gzip'd): only Records and BadItems, each within limits."""
    name = _NAMES[data[0] % len(_NAMES)] if data else "t.json"
    body = data[1:]
    if name.endswith(".gz") and body[:2] != b"\x1f\x8b":
        body = gzip.compress(body, mtime=0)
    _check_items(list(records_from_blob(Blob(name, body), max_record_bytes=_LIMIT)))


def _key(it: Record | BadItem) -> tuple[object, ...]:
    if isinstance(it, Record):
        return ("r", it.raw, it.ts_ns, it.event_id)
    return ("b", it.reason.split(":", 1)[0])


def stream_chunking(data: bytes) -> None:
    """normalize.stream gives the same items however the input is cut into chunks."""
    if len(data) < 2:
        return
    cut = data[0] or 1
    body = data[1:]
    whole = list(records_from_chunks("t.json", [body], _LIMIT))
    _check_items(whole)
    pieces = [body[i:i + cut] for i in range(0, len(body), cut)]
    assert [_key(i) for i in records_from_chunks("t.json", pieces, _LIMIT)] == [_key(i) for i in whole]


def _json_ok(raw: bytes) -> bool:
    try:
        return isinstance(orjson.loads(raw), dict)
    except orjson.JSONDecodeError:
        return False


def packed_vs_stream(data: bytes) -> None:
    """The fast split (packed.fast_pack: a bytes scan) agrees with normalize.stream (which parses
    every record) on each input both accept: the same record bytes, dedup keys and, when a record
    holds one eventTime key, the same time."""
    fast = packed.fast_pack("t.json", data, _LIMIT)
    if fast is None:
        return
    slow = list(records_from_chunks("t.json", [data], _LIMIT))
    if not all(isinstance(i, Record) and _json_ok(i.raw) for i in slow):
        # Neither path validates a record's JSON (the plugin's tokenizer does, and counts what it
        # rejects), so on broken JSON they may cut differently: only valid files are compared.
        return
    recs = list(fast.records())
    assert len(recs) == len(slow), (len(recs), len(slow))
    for i, (a, b) in enumerate(zip(recs, slow)):
        assert isinstance(b, Record)
        assert a.raw == b.raw, f"record {i}: bytes differ"
        assert fast.keys[i] == packed.record_key(b.event_id), f"record {i}: dedup key differs"
        if a.raw.count(b'"eventTime"') == 1:
            assert a.ts_ns == b.ts_ns, f"record {i}: time {a.ts_ns} != {b.ts_ns}"


def notification(data: bytes) -> None:
    """Any SQS body: a Notice or an Unknown with a reason, never an exception."""
    got = read_message(data)
    assert isinstance(got, (Notice, Unknown))
    if isinstance(got, Unknown):
        assert got.reason


def frame(data: bytes) -> None:
    """Any bytes: one frame or a ProtocolError naming the problem; a decoded frame encodes back
    to the bytes it came from (for the types the bridge itself writes)."""
    try:
        f = protocol.decode_frame(data)
    except ProtocolError as e:
        assert str(e)
        return
    if isinstance(f, protocol.Ack):
        assert protocol.encode_ack(f.seq) == data
    elif isinstance(f, protocol.Welcome):
        assert protocol.encode_welcome(f) == data


def config(data: bytes) -> None:
    """Any config file: a DaemonConfig or a ConfigError with a message."""
    from bridge.daemon import load_config

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.yaml"
        path.write_bytes(data)
        try:
            load_config(str(path), {})
        except ConfigError as e:
            assert str(e)


def alert(data: bytes) -> None:
    """Any intake body (JSON or text): an Alert or an InputError."""
    from bridge.intake.http import alert_from_falco_json, alert_from_text

    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            alert_from_text(data.decode("utf-8"), "http")
        except (InputError, UnicodeDecodeError):
            pass
        return
    try:
        alert_from_falco_json(value, "http")
    except InputError as e:
        assert str(e)


def http_head(data: bytes) -> None:
    """Any request head: a Head, or an HttpError with a 4xx/5xx status and a reason."""
    from bridge.intake.wire import Head, HttpError, parse_head

    try:
        head = parse_head(data)
    except HttpError as e:
        assert e.status in (400, 411, 417, 431, 501, 505) and e.reason, (e.status, e.reason)
        return
    assert isinstance(head, Head) and head.length >= -1
    assert all(k == k.lower() for k in head.headers)


def _dechunk(limit: int, pieces: list[bytes]) -> tuple[object, ...]:
    from bridge.intake.wire import Chunked, HttpError

    dec, buf = Chunked(limit), bytearray()
    try:
        for p in pieces:
            buf += p
            body = dec.feed(buf)
            if body is not None:
                return ("body", body, bytes(buf))
    except HttpError as e:
        assert e.status == 400 and e.reason
        return ("error",)
    return ("more",)


def http_chunked(data: bytes) -> None:
    """A chunked body decodes to the same bytes (or the same refusal) however it arrives, and
    never beyond its limit."""
    if len(data) < 2:
        return
    cut, limit, body = data[0] or 1, 1 + data[1] * 16, data[2:]
    whole = _dechunk(limit, [body])
    if whole[0] == "body":
        assert len(whole[1]) <= limit
    assert _dechunk(limit, [body[i:i + cut] for i in range(0, len(body), cut)]) == whole


TARGETS: dict[str, Callable[[bytes], None]] = {
    "logfile": logfile, "stream_chunking": stream_chunking, "packed_vs_stream": packed_vs_stream,
    "notification": notification, "frame": frame, "config": config, "alert": alert,
    "http_head": http_head, "http_chunked": http_chunked,
}
