"""Records from a CloudTrail log file read as a stream of chunks, kept as the bytes CloudTrail wrote.

CloudTrail writes `{"Records":[{"eventVersion":...},{"eventVersion":...}]}`. Inside a JSON string
a quote is always escaped, so `{"eventVersion"` can only be the start of an object: splitting on
`},{"eventVersion"` finds the record boundaries without a tokenizer, and each piece is checked by
parsing it (which also yields eventTime and eventID). A piece that does not parse because the
split fell inside a record (a nested object keyed eventVersion) is joined with the next one.

Memory is one decompressed chunk plus one record, whatever the file size. Anything that does not
look like a CloudTrail-written log file (JSON lines, EventBridge events, other key orders) goes
through normalize.logfile instead, which parses the whole file and re-encodes its records.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator

import orjson

from bridge.errors import InputError
from bridge.model import BadItem, Blob, Record
from bridge.normalize.logfile import (
    DEFAULT_MAX_BLOB_BYTES,
    DEFAULT_MAX_RECORD_BYTES,
    _parse,
    in_range,
    parse_rfc3339_ns,
    records_from_blob,
    time_problem,
)

CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_HEAD = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"Records"\s*:\s*\[\s*')
_FIRST = b'{"eventVersion"'
_SEP = re.compile(rb'\}\s*,\s*\{"eventVersion"')
_TAIL = re.compile(rb'\s*\]\s*\}\s*\Z')
_HEAD_PEEK = 64


class _Gunzip:
    """Decompressed chunks of a (multi-member) gzip stream; raises InputError on damage."""

    def __init__(self, chunks: Iterable[bytes], limit: int) -> None:
        self._chunks = iter(chunks)
        self._limit = limit
        self.total = 0

    def __iter__(self) -> Iterator[bytes]:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = b""
        for chunk in self._chunks:
            buf = pending + chunk if pending else chunk
            pending = b""
            more = False
            while buf or more:
                if d.eof:  # the next gzip member, or zero padding after the last one
                    if not buf.strip(b"\x00"):
                        break
                    if len(buf) < 2:
                        pending = buf
                        break
                    if buf[:2] != _GZIP_MAGIC:
                        raise InputError(f"trailing garbage after gzip data ({len(buf)} bytes)")
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                try:
                    out = d.decompress(buf, CHUNK)
                except zlib.error as e:
                    raise InputError(f"corrupt gzip data after {self.total} bytes of output ({e})") from None
                buf = d.unused_data if d.eof else d.unconsumed_tail
                more = len(out) == CHUNK and not d.eof  # output held back by the size cap
                if out:
                    self.total += len(out)
                    if self.total > self._limit:
                        raise InputError(f"decompresses to more than {self._limit} bytes")
                    yield out
        if pending:  # one byte after the last member (zeros never get here): not another member
            raise InputError(f"trailing garbage after gzip data ({len(pending)} bytes)")
        if not d.eof:
            raise InputError(f"truncated gzip: stream ends early after {self.total} bytes of output")


def _plain(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    total = 0
    for c in chunks:
        total += len(c)
        if total > limit:
            raise InputError(f"more than {limit} bytes")
        if c:
            yield c


def records_from_chunks(
    name: str,
    chunks: Iterable[bytes],
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
) -> Iterator[Record | BadItem]:
    """Every record of one input (gzip or not, detected by its magic bytes), in file order.

    CloudTrail-written log files stream with the records' original bytes; any other shape is
    collected (up to max_blob_bytes) and handed to normalize.logfile."""
    it = iter(chunks)
    first = b""
    for c in it:
        first += c
        if len(first) >= 2:
            break
    if not first:
        yield BadItem(name, f"{name}: empty input", b"")
        return
    source = _chain(first, it)
    data: Iterable[bytes] = (_Gunzip(source, max_blob_bytes) if first[:2] == _GZIP_MAGIC
                             else _plain(source, max_blob_bytes))
    yield from _split(name, data, max_record_bytes, max_blob_bytes, first)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _split(name: str, data: Iterable[bytes], max_record_bytes: int, max_blob_bytes: int,
           raw_head: bytes) -> Iterator[Record | BadItem]:
    it = iter(data)
    buf = b""
    index = 0
    try:
        # Enough of the start to tell whether this is a CloudTrail-written log file.
        for c in it:
            buf += c
            if len(buf) >= _HEAD_PEEK:
                break
        m = _HEAD.match(buf)
        lines = name.lower().removesuffix(".gz").endswith((".jsonl", ".ndjson"))
        if lines or m is None or not (buf[m.end():].startswith(_FIRST) or _TAIL.fullmatch(buf[m.end():])):
            yield from _whole(name, buf, it, max_record_bytes, max_blob_bytes, raw_head)
            return
        first = buf[m.end():]
        buf = b""
        carry = b""  # a piece that did not parse alone: the split fell inside a record
        chunks = _chain(first, it)
        chunk = next(chunks, None)
        while chunk is not None:
            buf += chunk
            pos = 0
            for sep in _SEP.finditer(buf):
                piece = carry + buf[pos:sep.start() + 1]
                nxt = sep.end() - len(_FIRST)
                item, carry = _piece(name, index, piece, max_record_bytes, more=True)
                if carry:
                    carry += buf[sep.start() + 1:nxt]  # the split was inside a record: keep its comma
                pos = nxt
                if item is not None:
                    index += 1
                    yield item
            buf = buf[pos:]
            if len(buf) + len(carry) > max_record_bytes + CHUNK:
                # A record bigger than the limit: report it and skip to the next boundary.
                yield BadItem(f"{name}#{index}", f"{name} record {index}: over the {max_record_bytes} "
                              "byte record limit", None)
                index += 1
                carry = b""
                buf = _skip_to_next(buf, it)
                chunk = b""  # the skip may have read the last chunk: split what it left first
                continue
            chunk = next(chunks, None)
    except InputError as e:
        yield BadItem(f"{name}#{index}", f"{name}: {e}" + (f" (after {index} records)" if index else ""),
                      None)
        return
    tail = _TAIL.search(buf)
    if tail is None:
        piece = carry + buf
        if piece.strip():
            yield BadItem(f"{name}#{index}", f"{name} record {index}: truncated JSON: the file ends "
                          "inside the Records array", piece[:max_record_bytes])
        return
    piece = carry + buf[:tail.start()]
    if piece.strip():
        item, _ = _piece(name, index, piece, max_record_bytes, more=False)
        if item is not None:
            yield item


def _skip_to_next(buf: bytes, it: Iterator[bytes]) -> bytes:
    while True:
        m = _SEP.search(buf)
        if m is not None:
            return buf[m.end() - len(_FIRST):]
        buf = buf[-len(_FIRST) - 8:]
        nxt = next(it, None)
        if nxt is None:
            return b""
        buf += nxt


def _quick(piece: bytes, origin: str) -> Record | None:
    """The record without parsing it, when that is safe: valid UTF-8, braces balanced (counted,
    so a brace inside a string sends it to the parser), eventTime and eventID found where
    CloudTrail writes them (eventTime is the first such key: only userIdentity comes before it;
    eventID the last: only fixed fields come after it). Anything else: None, and the parser decides."""
    if piece.count(b"{") != piece.count(b"}"):  # a split inside a record leaves one unclosed
        return None
    try:
        piece.decode("utf-8")
    except UnicodeDecodeError:
        return None
    at = piece.find(b'"eventTime"')
    t = _EVENT_TIME.match(piece, at) if at > 0 and piece[at - 1] in b"{, \t\r\n" else None
    if t is None:
        return None
    ts_ns = parse_rfc3339_ns(t.group(1).decode("ascii", "replace"))
    if ts_ns is None or not in_range(ts_ns):
        return None
    at = piece.rfind(b'"eventID"')
    event_id = None
    if at >= 0:
        m = _EVENT_ID.match(piece, at)
        if m is None:
            return None
        event_id = m.group(1).decode("utf-8")
    return Record(piece, ts_ns, origin, event_id or None)


_EVENT_TIME = re.compile(rb'"eventTime"\s*:\s*"([0-9T:.+Zz-]{10,40})"')
_EVENT_ID = re.compile(rb'"eventID"\s*:\s*"([^"\\]{1,200})"')


def _piece(name: str, index: int, piece: bytes, max_record_bytes: int,
           more: bool) -> tuple[Record | BadItem | None, bytes]:
    """(the item, b"") or, for an unfinished record that more input may complete, (None, piece)."""
    origin = f"{name}#{index}"
    where = f"{name} record {index}"
    if len(piece) <= max_record_bytes and piece[-1:] == b"}":
        quick = _quick(piece, origin)
        if quick is not None:
            return quick, b""
    try:
        value = orjson.loads(piece)
    except orjson.JSONDecodeError:
        if more and _unbalanced(piece):
            return None, piece
        try:
            value = _parse(piece)  # stdlib: big integers, lone surrogates; or the reason
        except InputError as e:
            return BadItem(origin, f"{where}: {e}", piece), b""
    if len(piece) > max_record_bytes:
        return BadItem(origin, f"{where}: {len(piece)} bytes, over the {max_record_bytes} byte record limit",
                       None), b""
    if not isinstance(value, dict):
        return BadItem(origin, f"{where}: not a JSON object", piece), b""
    event_time = value.get("eventTime")
    if not isinstance(event_time, str):
        problem = "has no eventTime" if event_time is None else "eventTime is not a string"
        return BadItem(origin, f"{where}: {problem}", piece), b""
    ts_ns = parse_rfc3339_ns(event_time)
    bad_time = time_problem(event_time, ts_ns)
    if bad_time or ts_ns is None:
        return BadItem(origin, f"{where}: {bad_time}", piece), b""
    event_id = value.get("eventID")
    return Record(piece, ts_ns, origin, event_id if isinstance(event_id, str) and event_id else None), b""


def _unbalanced(piece: bytes) -> bool:
    """True if the piece opens more brackets than it closes (a split inside a record)."""
    if piece.count(b"{") + piece.count(b"[") == piece.count(b"}") + piece.count(b"]"):
        return False  # balanced (strings aside): the parser's reason stands
    return _depth_at_end(piece) > 0


def _depth_at_end(piece: bytes) -> int:
    depth = 0
    for m in re.finditer(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', piece, re.DOTALL):
        c = piece[m.start()]
        if c in b"[{":
            depth += 1
        elif c in b"]}":
            depth -= 1
    return depth


def _whole(name: str, head: bytes, rest: Iterator[bytes], max_record_bytes: int, max_blob_bytes: int,
           raw_head: bytes) -> Iterator[Record | BadItem]:
    parts = [head]
    parts.extend(rest)
    data = b"".join(parts)
    del parts
    # records_from_blob sniffs gzip itself; the data here is already decompressed.
    blob_name = name[:-3] if name.lower().endswith(".gz") else name
    for item in records_from_blob(Blob(blob_name, data), max_record_bytes, max_blob_bytes):
        if isinstance(item, BadItem) and blob_name != name:
            item = BadItem(item.origin.replace(blob_name, name, 1), item.reason.replace(blob_name, name, 1),
                           item.raw)
        elif isinstance(item, Record) and blob_name != name:
            item = Record(item.raw, item.ts_ns, item.origin.replace(blob_name, name, 1), item.event_id)
        yield item
