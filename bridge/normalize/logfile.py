"""Turn one input blob (a CloudTrail log file, JSON Lines, gzip or not) into Records.

Problems become BadItems naming the input and the problem; the rest of the blob still comes
through (in JSON Lines, one bad line loses only that line).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import gc
import json
import re
import zlib
from collections.abc import Iterator
from typing import Any

import orjson

from bridge.errors import InputError
from bridge.model import BadItem, Blob, Record
from bridge.normalize.envelopes import Unrecognized, describe, unwrap

DEFAULT_MAX_RECORD_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_BLOB_BYTES = 2 * 1024 * 1024 * 1024  # decompressed; stops gzip bombs
MAX_DEPTH = 256  # nesting levels allowed in one record
_GC_PAUSE_BYTES = 1024 * 1024
_ENVELOPE_DEPTH = 4  # levels an envelope may add above a record (array > log file > Records)

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_LINE_SUFFIXES = (".jsonl", ".ndjson")
# orjson reads integers beyond 64 bits as floats, losing digits; such input goes to stdlib json.
# Found by masking every digit to "0" and searching for a run of 19 (C speed, unlike a regex).
_MASK_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_DIGIT_RUN = b"0" * 19
_BEFORE_NUMBER = frozenset(b":,[ \t\r\n")
# JSON strings (skipped whole) or brackets: enough to measure nesting without a parser.
_DEPTH_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?(?:[Zz]|([+-])(\d{2}):(\d{2}))"
)
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
TS_NS_MAX = 2**64 - 1


def records_from_blob(
    blob: Blob,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
) -> Iterator[Record | BadItem]:
    """Every record in the blob as a Record, every problem as a BadItem, in input order."""
    name = blob.name
    data = blob.data
    lower = name.lower()
    gzipped = data[:2] == _GZIP_MAGIC
    if lower.endswith(".gz"):
        lower = lower[:-3]
        if not gzipped and data.lstrip()[:1] not in (b"{", b"["):
            yield BadItem(name, f"{name}: named .gz but is not gzip data (starts with {data[:8]!r})", data)
            return
    lines = lower.endswith(_LINE_SUFFIXES)
    if gzipped:
        data, problem = _gunzip(data, max_blob_bytes)
        if problem is not None:
            yield BadItem(name, f"{name}: {problem}", blob.data)
            if not lines:
                return
            data = data[: data.rfind(b"\n") + 1]  # only the lines that arrived whole
    elif len(data) > max_blob_bytes:
        yield BadItem(name, f"{name}: {len(data)} bytes, over the {max_blob_bytes} byte limit", None)
        return
    if lines:
        yield from _from_lines(name, data, max_record_bytes)
        return
    # The collector would scan the whole parsed file again and again while its records are passed
    # on (a third of the time); JSON values hold no cycles, so it stays off until they are gone.
    with _gc_paused(len(data) > _GC_PAUSE_BYTES):
        try:
            values = unwrap(_parse(data))
        except InputError as e:
            if "unexpected content after document" in str(e) and _first_line_parses(data):
                # A .json file that is really JSON Lines.
                yield from _from_lines(name, data, max_record_bytes)
            else:
                yield BadItem(name, f"{name}: {e}", blob.data)
            return
        del data  # the decompressed text is not needed once parsed
        yield from _records(name, values, 0, max_record_bytes)
        del values


def _from_lines(name: str, data: bytes, max_record_bytes: int) -> Iterator[Record | BadItem]:
    index = 0
    for lineno, line in enumerate(data.split(b"\n"), 1):
        line = line.strip()
        if not line:
            continue
        try:
            values = unwrap(_parse(line))
        except InputError as e:
            yield BadItem(f"{name}#line{lineno}", f"{name} line {lineno}: {e}", line)
            continue
        yield from _records(name, values, index, max_record_bytes)
        index += len(values)


def _records(name: str, values: list[Any], start: int, max_record_bytes: int) -> Iterator[Record | BadItem]:
    for n in range(len(values)):
        value, values[n] = values[n], None  # let a big file's parsed records go as they are passed on
        i = start + n
        yield _to_record(value, f"{name}#{i}", f"{name} record {i}", max_record_bytes)


def _to_record(value: Any, origin: str, where: str, max_record_bytes: int) -> Record | BadItem:
    if isinstance(value, Unrecognized):
        return BadItem(origin, f"{where}: {value.what}", _dumps_or_none(value.value))
    if not isinstance(value, dict):
        return BadItem(origin, f"{where}: is {describe(value)}, not a JSON object", _dumps_or_none(value))
    try:
        raw = _dumps(value)
    except InputError as e:
        return BadItem(origin, f"{where}: {e}", None)
    if len(raw) > max_record_bytes:
        return BadItem(origin, f"{where}: {len(raw)} bytes, over the {max_record_bytes} byte record limit", raw)
    event_time = value.get("eventTime")
    if not isinstance(event_time, str):
        problem = "has no eventTime" if event_time is None else f"eventTime is {describe(event_time)}, not a string"
        return BadItem(origin, f"{where}: {problem}", raw)
    ts_ns = parse_rfc3339_ns(event_time)
    bad_time = time_problem(event_time, ts_ns)
    if bad_time or ts_ns is None:
        return BadItem(origin, f"{where}: {bad_time}", raw)
    event_id = value.get("eventID")
    return Record(raw=raw, ts_ns=ts_ns, origin=origin, event_id=event_id if isinstance(event_id, str) and event_id else None)


def in_range(ts_ns: int) -> bool:
    """Whether Falco can hold the time: event timestamps are unsigned 64-bit ns (1970..2554)."""
    return 0 <= ts_ns <= TS_NS_MAX


def time_problem(event_time: str, ts_ns: int | None) -> str | None:
    """Why eventTime cannot be a record's timestamp, or None."""
    if ts_ns is None:
        return f"eventTime {event_time[:64]!r} is not an RFC 3339 timestamp"
    if not in_range(ts_ns):
        return f"eventTime {event_time[:64]!r} is outside 1970..2554, the range of Falco's event timestamps"
    return None


@functools.lru_cache(maxsize=65536)  # records in one file share a handful of distinct times
def parse_rfc3339_ns(text: str) -> int | None:
    """RFC 3339 date-time ('Z' or an offset, optional fraction) to ns since the epoch, or None."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if hour > 23 or minute > 59 or second > 60:
        return None
    try:
        days = datetime.date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    seconds = days * 86400 + hour * 3600 + minute * 60 + second
    if m.group(8):  # offset: local time = UTC + offset
        off_h, off_m = int(m.group(9)), int(m.group(10))
        if off_h > 23 or off_m > 59:
            return None
        offset = off_h * 3600 + off_m * 60
        seconds -= offset if m.group(8) == "+" else -offset
    fraction = m.group(7) or ""
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0") or 0)


def _parse(data: bytes) -> Any:
    """One JSON document; InputError with a clear reason if it is not valid JSON."""
    if data.startswith(_BOM):
        data = data[3:]
    if not _may_hold_big_int(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            msg = str(e)
        if "depth limit" in msg:
            raise InputError(f"nested too deep for the JSON parser: {msg}")
        if "surrogate" not in msg and "UTF-8" not in msg:
            raise InputError(_json_problem(msg))
    # stdlib json: exact big integers and lone surrogate escapes; it recurses, so check depth first.
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})") from None
    if _deeper_than(data, MAX_DEPTH + _ENVELOPE_DEPTH):
        raise InputError(f"nested deeper than {MAX_DEPTH + _ENVELOPE_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as e:
        raise InputError(_json_problem(str(e))) from None


@contextlib.contextmanager
def _gc_paused(pause: bool) -> Iterator[None]:
    """Building and holding millions of containers triggers the cyclic GC over and over (3x the
    parse time); JSON values hold no cycles, so it has nothing to find. Only ever re-enables what
    it disabled."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _may_hold_big_int(data: bytes) -> bool:
    """True if a number token of 19+ digits may be present (a run inside a string rarely passes)."""
    masked = data.translate(_MASK_DIGITS)
    pos = masked.find(_DIGIT_RUN)
    while pos >= 0:
        start = pos
        while start and masked[start - 1] == 0x30:
            start -= 1
        end = pos + len(_DIGIT_RUN)
        while end < len(masked) and masked[end] == 0x30:
            end += 1
        before = start - 1
        negative = before >= 0 and data[before] == 0x2D
        if negative:
            before -= 1
        is_number = before < 0 or data[before] in _BEFORE_NUMBER
        if is_number and (end - start >= 20 or negative):
            return True
        pos = masked.find(_DIGIT_RUN, end)
    return False


def _json_problem(msg: str) -> str:
    # orjson says "unexpected end of data", stdlib "Unterminated string" or "Expecting ..." at the end.
    if "end of data" in msg or "Unterminated" in msg:
        return f"truncated JSON: {msg}"
    if "empty" in msg:
        return f"empty input: {msg}"
    return f"invalid JSON: {msg}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _first_line_parses(data: bytes) -> bool:
    try:
        _parse(data.split(b"\n", 1)[0].strip())
    except InputError:
        return False
    return True


def _deeper_than(data: bytes, limit: int) -> bool:
    """True if brackets outside strings nest deeper than limit; never recurses."""
    if data.count(b"{") + data.count(b"[") <= limit:
        return False
    depth = 0
    for m in _DEPTH_TOKEN.finditer(data):
        c = data[m.start()]
        if c in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif c in b"]}":
            depth -= 1
    return False


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Nesting of a decoded value, iteratively (stdlib json.dumps would recurse)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))
    return False


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        pass  # ints beyond 64 bits, lone surrogates, or deeper than orjson writes (254)
    if _depth_exceeds(value, MAX_DEPTH):
        raise InputError(f"nested deeper than {MAX_DEPTH} levels")
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape it rather than write invalid UTF-8
        return json.dumps(value, separators=(",", ":")).encode("ascii")


def _dumps_or_none(value: Any) -> bytes | None:
    try:
        return _dumps(value)
    except InputError:
        return None


def _gunzip(data: bytes, limit: int) -> tuple[bytes, str | None]:
    """Decompress every gzip member; on a problem, what arrived before it plus the reason."""
    parts: list[bytes] = []
    total = 0
    rest = data
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        buf = rest
        try:
            while buf and not d.eof:
                chunk = d.decompress(buf, limit + 1 - total)
                total += len(chunk)
                parts.append(chunk)
                if total > limit:
                    return b"".join(parts)[:limit], f"decompresses to more than {limit} bytes"
                buf = d.unconsumed_tail
        except zlib.error as e:
            return b"".join(parts), f"corrupt gzip data after {total} bytes of output ({e})"
        if not d.eof:
            return b"".join(parts), f"truncated gzip: stream ends early after {total} bytes of output"
        rest = d.unused_data
        if not rest.strip(b"\x00"):  # gzip tolerates zero padding after the last member
            return b"".join(parts), None
        if rest[:2] != _GZIP_MAGIC:
            return b"".join(parts), f"trailing garbage after gzip data ({len(rest)} bytes)"


def record_from_value(value: Any, origin: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Record | BadItem:
    """One decoded CloudTrail record (e.g. an EventBridge event's detail) as a Record, or why not."""
    return _to_record(value, origin, origin, max_record_bytes)
