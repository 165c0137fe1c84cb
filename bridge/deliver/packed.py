"""Replay's fast path: log files read, gunzipped and split in worker processes into BATCH entries.

A worker turns one file into a `Packed`: the records' original bytes, already laid out as BATCH
entries (`u64 ts_ns, u32 len, record`, docs/ingest-protocol.md), the end offset of each entry,
and a stable hash of each record's eventID. Records are split by normalize.stream (CloudTrail's
own bytes, never re-encoded), so the main process does per record only the eventID dedup lookup;
runs of records are copied into batch frames as byte ranges (PluginClient.send_packed).

Files above `stream_bytes` are not packed whole (a 50 MB gzip file can hold 1 GB of JSON): the
caller streams them record by record through normalize.stream, in bounded memory.

The gunzip, the UTF-8 check and fast_pack's scan run in C (bridge/deliver/_fastpack.c, libdeflate
for the gunzip) when that optional extension is built, unless CTBRIDGE_PURE_PYTHON=1: the same
results byte for byte (tests/deliver/test_fastpack_c.py), in less than half the CPU (gunzip, check
and split of a 2,000-record file: 15 -> 6.6 ms).
The Python functions (*_py) are the reference and the fallback; where the C code is not sure (a
gzip file with a header CRC, trailing NULs, damage) it answers False and the Python code decides.
"""

from __future__ import annotations

import itertools
import multiprocessing
import operator
from hashlib import blake2b as _blake2b
import os
import re
import struct
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bridge.errors import InputError
from bridge.model import BadItem, Record
from bridge.normalize.dedup import stable_hash
from bridge.normalize.logfile import DEFAULT_MAX_RECORD_BYTES, TS_NS_MAX, in_range, parse_rfc3339_ns
from bridge.normalize.stream import _FIRST, _HEAD, records_from_chunks
from bridge.sources.local import wanted

try:
    from bridge.deliver import _fastpack as _C
except ImportError:  # not built (no compiler at install): the pure-Python code below
    _C = None  # type: ignore[assignment]
if os.environ.get("CTBRIDGE_PURE_PYTHON", "") not in ("", "0"):
    _C = None  # type: ignore[assignment]

_ENTRY = struct.Struct("<QI")
_READ_CHUNK = 1 << 20
DEFAULT_STREAM_BYTES = 4 << 20  # files bigger than this (on disk) are streamed, not packed whole
_GROUP_BYTES = 1 << 20  # small files are sent to a worker in groups of about this many bytes
_GROUP_FILES = 64


@dataclass(slots=True)
class Packed:
    """The records of one file as BATCH entries, plus what could not become one."""

    name: str
    data: bytes = b""  # BATCH entries back to back
    ends: list[int] = field(default_factory=list)  # end offset in data of each entry
    keys: list[int] = field(default_factory=list)  # event_key(eventID), 0 when it has none
    bad: list[BadItem] = field(default_factory=list)
    max_len: int = 0  # the longest record, to check against the plugin's limit at once
    ts_range: tuple[int, int] | None = None  # (lowest, highest) ts_ns of the entries, when known

    def records(self) -> Iterator[Record]:
        """The entries as Records again (the slow path: a record above the plugin's limit, or a
        caller that takes Records), with the eventID where fast_pack found it."""
        mv = memoryview(self.data)
        start = 0
        for i, end in enumerate(self.ends):
            ts_ns, size = _ENTRY.unpack_from(mv, start)
            raw = bytes(mv[start + _ENTRY.size:end])
            assert len(raw) == size
            yield Record(raw, ts_ns, f"{self.name}#{i}", _event_id(raw))
            start = end


def pack_items(name: str, items: Iterable[Record | BadItem]) -> Packed:
    out = Packed(name)
    buf = bytearray()
    ends, keys = out.ends, out.keys
    entry = _ENTRY.pack
    for item in items:
        if isinstance(item, BadItem):
            out.bad.append(item)
            continue
        raw = item.raw
        try:
            head = entry(item.ts_ns, len(raw))
        except struct.error:
            out.bad.append(BadItem(item.origin, f"{item.origin}: eventTime is outside 1970..2554 "
                                   f"(ts_ns {item.ts_ns})", raw))
            continue
        buf += head
        buf += raw
        ends.append(len(buf))
        keys.append(record_key(item.event_id))
        if len(raw) > out.max_len:
            out.max_len = len(raw)
    out.data = bytes(buf)
    return out


def within(packed: Packed, lo: int, hi: int) -> Packed:
    """The entries whose ts_ns is in [lo, hi): `packed` itself when all are (no copy)."""
    if packed.ts_range is not None and lo <= packed.ts_range[0] and packed.ts_range[1] < hi:
        return packed  # known from fast_pack: no need to look at each entry
    unpack, start, keep = _ENTRY.unpack_from, 0, []
    for i, end in enumerate(packed.ends):
        if lo <= unpack(packed.data, start)[0] < hi:
            keep.append(i)
        start = end
    if len(keep) == len(packed.ends):
        return packed
    out = Packed(packed.name, bad=packed.bad)
    buf = bytearray()
    for i in keep:
        buf += packed.data[packed.ends[i - 1] if i else 0:packed.ends[i]]
        out.ends.append(len(buf))
        out.keys.append(packed.keys[i])
        out.max_len = max(out.max_len, packed.ends[i] - (packed.ends[i - 1] if i else 0) - _ENTRY.size)
    out.data = bytes(buf)
    return out


def pack_blob(name: str, raw: bytes, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Packed | None:
    """A whole (gzip'd) CloudTrail-written log file in memory, split by fast_pack; None when it is
    anything else (the caller streams it through normalize.stream, which names the problem)."""
    data = _gunzip_bounded(raw) if raw[:2] == _GZIP_MAGIC else raw
    if data is None:
        return None
    if not _utf8_ok(data):  # a record that is not UTF-8 is quarantined by normalize.stream
        return None
    return fast_pack(name, data, max_record_bytes)


def _utf8_ok(data: bytes) -> bool:
    if _C is not None:
        return _C.utf8_ok(data)
    return _utf8_ok_py(data)


def _utf8_ok_py(data: bytes) -> bool:
    if data.isascii():  # ASCII (the usual case) is UTF-8: one cheaper pass
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def file_chunks(path: str) -> Iterator[bytes]:
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_READ_CHUNK):
                yield chunk
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}") from None


def file_items(path: str, max_record_bytes: int) -> Iterator[Record | BadItem]:
    """Records of one local file, as CloudTrail wrote them; an unreadable file is one BadItem."""
    try:
        yield from records_from_chunks(path, file_chunks(path), max_record_bytes)
    except InputError as e:
        yield BadItem(path, f"{path}: {e}")


_K_TIME = b'"eventTime":"'
_K_ID = b'"eventID":"'
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_RATIO = 64  # a packed file may decompress to at most this many times its size; else streamed


def _gunzip_bounded(raw: bytes) -> bytes | None:
    """One gzip member decompressed, or None for anything else (several members, damage, a
    ratio above _MAX_RATIO): normalize.stream then handles the file and names the problem."""
    if _C is not None:
        got = _C.gunzip(raw, _MAX_RATIO)
        if got is not False:
            return got
    return _gunzip_bounded_py(raw)


def _gunzip_bounded_py(raw: bytes) -> bytes | None:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, _MAX_RATIO * len(raw) + (1 << 20))
    except zlib.error:
        return None
    if not d.eof or d.unconsumed_tail or d.unused_data.strip(b"\x00"):
        return None
    return out


def _event_id(raw: bytes) -> str | None:
    """The eventID as fast_pack finds it (the key written once, a value without escapes)."""
    k = raw.rfind(_K_ID)
    if k < 0:
        return None
    k += len(_K_ID)
    q = raw.find(b'"', k)
    return raw[k:q].decode("utf-8", "surrogateescape") or None if q > k else None


def event_key(event_id: bytes) -> int:
    """The dedup key of an eventID as written (UTF-8 bytes): normalize.dedup.stable_hash of it,
    the same in every process."""
    return int.from_bytes(_blake2b(event_id, digest_size=8).digest(), "little") >> 1


def record_key(event_id: str | None) -> int:
    """event_key of a parsed eventID; 0 (never a duplicate) when there is none."""
    return stable_hash(event_id) if event_id else 0


def _rstrip(data: bytes, end: int) -> int:
    while end > 0 and data[end - 1] in b" \t\r\n":
        end -= 1
    return end


_WS = frozenset(b" \t\n\r\f\v")  # what \s matches in a bytes pattern


def _records(data: bytes, start: int, end: int) -> list[int]:
    """Bounds of the records in data[start:end] (which starts with _FIRST), as a flat list
    [a0, b0, a1, b1, ...]: the pieces _SEP.finditer(data, start, end) cuts. A separator is a
    `{"eventVersion"` preceded by `}`, `,` and whitespace around it; bytes.find for the
    `{"eventVersion"` (one per record) and a look back is the same set of matches, found faster
    than the regex, which tries every `}`."""
    out: list[int] = []
    find = data.find
    first = _FIRST
    p = find(first, start + 1, end)
    while p >= 0:
        r = p - 1
        if data[r - 1:p] == b"},":  # CloudTrail's own layout: no whitespace
            r -= 1
            ok = r >= start
        else:
            while r > start and data[r] in _WS:
                r -= 1
            ok = data[r] == 0x2C  # ","
            if ok:
                r -= 1
                while r > start and data[r] in _WS:
                    r -= 1
                ok = r > start and data[r] == 0x7D  # "}"
        if ok:
            out += (start, r + 1)
            start = p
        p = find(first, p + 1, end)
    out += (start, end)
    return out


def fast_pack(name: str, data: bytes, max_record_bytes: int) -> Packed | None:
    """fast_pack_py, in C when the extension is there (the same Packed, or None for the same inputs)."""
    if _C is not None:
        got = _C.pack(data, max_record_bytes, parse_rfc3339_ns, in_range)
        if got is None:
            return None
        if got is not False:
            out, ends, keys, max_len, ts_range = got
            return Packed(name, out, ends, keys, max_len=max_len, ts_range=ts_range)
    return fast_pack_py(name, data, max_record_bytes)


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*(")?|[{}\[\]]', re.S)  # a string (group 1: its end) or a bracket


def _closes_level(data: bytes, start: int, end: int) -> bool:
    """data[start:end] (a record after its eventID value, before its closing brace) closes every
    bracket it opens and no more, strings skipped: else the record's only `"eventID":"` is a
    nested object's (fuzzing found such a record given a nested eventID as its dedup key). The
    same test as _fastpack.c's closes_level."""
    depth = 0
    for m in _TOKEN.finditer(data, start, end):
        c = data[m.start()]
        if c == 0x22:  # '"': a string, which must end inside the range
            if m.group(1) is None:
                return False
            continue
        if c in (0x7B, 0x5B):
            depth += 1
        else:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def fast_pack_py(name: str, data: bytes, max_record_bytes: int) -> Packed | None:
    """A CloudTrail-written log file (`{"Records":[{"eventVersion":...},...]}`, decompressed)
    split without parsing its records; None when any record does not look exactly like
    CloudTrail writes them, and the caller falls back to normalize.stream, which parses each one.

    normalize.stream splits at `},{"eventVersion"` (inside a JSON string a quote is escaped, so
    that can only be the start of an object) and parses each piece to check the split and to
    read eventTime and eventID. Here a piece is taken as a record without parsing when it has
    exactly one `"eventID":"` (again: only ever a key), an `"eventTime":"` holding an RFC 3339
    time, and no escapes in either value. A split inside a record (a nested object keyed
    eventVersion first, after an element of an array) leaves a piece without an eventID, unless
    that nested object sits after the record's eventID and holds one itself: CloudTrail writes
    nothing of the kind. The records' bytes are not validated as JSON here; the plugin's
    tokenizer does that and counts what it rejects (ctbridge.bad_inputs)."""
    m = _HEAD.match(data)
    if m is None:
        return None
    end = _rstrip(data, len(data))
    if end < 1 or data[end - 1] != 0x7D:  # "}"
        return None
    end = _rstrip(data, end - 1)
    if end < 1 or data[end - 1] != 0x5D:  # "]"
        return None
    end = _rstrip(data, end - 1)
    start = m.end()
    out = Packed(name)
    if start >= end:
        return out
    if not data.startswith(_FIRST, start):
        return None
    bounds = _records(data, start, end)
    n = len(bounds) // 2
    # The eventID key must occur once in each record (it keys dedup: a nested one taken for it
    # could drop a record): each record has one (rfind below) and the file n in all. count()
    # skips an occurrence overlapping the one before (`"eventID":"eventID":"`, the key's only
    # self-overlap, 10 bytes on): such a pair ending a record is refused below; anywhere else
    # it comes with a third occurrence, which count() does see.
    if data.count(_K_ID, start, end) != n:
        return None
    parts: list[bytes | memoryview] = []
    add = parts.append
    ids: list[bytes] = []
    mv = memoryview(data)
    find, rfind, starts = data.find, data.rfind, data.startswith
    entry = _ENTRY.pack
    lt, li, back = len(_K_TIME), len(_K_ID), len(_K_ID) - 1
    times: dict[bytes, int] = {}  # eventTime as written -> ts_ns (records of a file share seconds)
    it = iter(bounds)
    for a, b in zip(it, it):
        # eventTime comes early in a record (right after userIdentity) and eventID late: find and
        # rfind stop soon. The first eventTime key is the record's in CloudTrail's layout.
        i = find(_K_TIME, a, b)
        k = rfind(_K_ID, a, b)
        if i < 0 or k < a or starts(_K_ID, k - back, k + 1):
            return None
        i += lt
        k += li
        j = find(b'"', i, b)
        q = find(b'"', k, b)
        if j < 0 or q < 0 or find(b"\\", k, q) >= 0:  # an escape in the eventID
            return None
        if not _closes_level(data, q + 1, b - 1):  # the eventID of a nested object, not the record's
            return None
        text = data[i:j]  # an escape in it fails the RFC 3339 match
        ts_ns = times.get(text)
        if ts_ns is None:
            parsed = parse_rfc3339_ns(text.decode("ascii", "replace"))
            if parsed is None or not in_range(parsed):
                return None
            ts_ns = times[text] = parsed
        add(entry(ts_ns, b - a))
        add(mv[a:b])
        ids.append(data[k:q])
    sizes = list(map(operator.sub, bounds[1::2], bounds[::2]))
    longest = max(sizes)
    if longest > max_record_bytes:
        return None
    out.data = b"".join(parts)
    out.ends = list(itertools.accumulate(map(_ENTRY.size.__add__, sizes)))
    out.keys = [event_key(x) if x else 0 for x in ids]
    out.max_len = longest
    out.ts_range = (min(times.values()), max(times.values()))
    return out


def pack_file(path: str, max_record_bytes: int) -> Packed:
    """One file: the fast split when it is a plain CloudTrail log file, else normalize.stream."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        return Packed(path, bad=[BadItem(path, f"{path}: cannot read: {e.strerror or e}")])
    lower = path.lower()
    if not lower.removesuffix(".gz").endswith((".jsonl", ".ndjson")):
        data = _gunzip_bounded(raw) if raw[:2] == _GZIP_MAGIC else raw
        if data is not None:
            packed = fast_pack(path, data, max_record_bytes)
            if packed is not None:
                return packed
    return pack_items(path, _items_of(path, raw, max_record_bytes))


def _items_of(path: str, raw: bytes, max_record_bytes: int) -> Iterator[Record | BadItem]:
    try:
        yield from records_from_chunks(path, [raw], max_record_bytes)
    except InputError as e:
        yield BadItem(path, f"{path}: {e}")


def pack_files(paths: list[str], max_record_bytes: int) -> list[Packed]:
    """Worker task: several small files, each packed."""
    return [pack_file(p, max_record_bytes) for p in paths]


@dataclass(frozen=True, slots=True)
class Big:
    """A file too big to pack whole: the caller streams its records (file_items)."""

    path: str


def walk(roots: Sequence[str]) -> Iterator[tuple[str, int] | BadItem]:
    """(path, size) of every file under roots in the order sources.local reads them (sorted,
    recursive, hidden and unrelated names skipped; a file named explicitly is always read)."""
    pending = list(reversed([Path(r) for r in roots]))
    seen_dirs: set[tuple[int, int]] = set()
    while pending:
        path = pending.pop()
        try:
            if path.is_dir():
                st = path.stat()
                if (st.st_dev, st.st_ino) in seen_dirs:
                    continue
                seen_dirs.add((st.st_dev, st.st_ino))
                with os.scandir(path) as entries:
                    names = sorted(e.name for e in entries if not e.name.startswith("."))
                children = [path / n for n in names]
                pending.extend(reversed([c for c in children if c.is_dir() or wanted(c.name)]))
                continue
            if not path.is_file():
                what = "a dangling symlink" if path.is_symlink() and not path.exists() else "not a regular file"
                yield BadItem(str(path), f"{path}: cannot read: {what}")
                continue
            yield str(path), path.stat().st_size
        except OSError as e:
            yield BadItem(str(path), f"{path}: cannot read: {e.strerror or e}")


def _groups(entries: Iterable[tuple[str, int] | BadItem], stream_bytes: int) -> Iterator[list[str] | Big | BadItem]:
    group: list[str] = []
    size = 0
    for e in entries:
        if isinstance(e, BadItem) or e[1] > stream_bytes:
            if group:
                yield group
                group, size = [], 0
            yield e if isinstance(e, BadItem) else Big(e[0])
            continue
        group.append(e[0])
        size += e[1]
        if size >= _GROUP_BYTES or len(group) >= _GROUP_FILES:
            yield group
            group, size = [], 0
    if group:
        yield group


def packed_files(roots: Sequence[str], workers: int = 2, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                 stream_bytes: int = DEFAULT_STREAM_BYTES) -> Iterator[Packed | Big | BadItem]:
    """Every file under roots, in order: Packed (read in `workers` processes, at most 2 x workers
    groups ahead, so memory stays flat), Big for a file to stream, BadItem for one not readable."""
    units = _groups(walk(roots), stream_bytes)
    if workers <= 1:
        for u in units:
            if isinstance(u, list):
                yield from pack_files(u, max_record_bytes)
            else:
                yield u
        return
    # spawn, not fork: the bridge runs intake threads, and a forked child would inherit their locks.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        pending: deque[Future[list[Packed]] | Big | BadItem] = deque()
        ahead = 2 * workers
        exhausted = False
        while True:
            while not exhausted and len(pending) < ahead:
                nxt = next(units, None)
                if nxt is None:
                    exhausted = True
                elif isinstance(nxt, list):
                    pending.append(pool.submit(pack_files, nxt, max_record_bytes))
                else:
                    pending.append(nxt)
            if not pending:
                return
            head = pending.popleft()
            if isinstance(head, (Big, BadItem)):
                yield head
            else:
                yield from head.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
