"""Ingest protocol v1 frames (docs/ingest-protocol.md): encode, decode, read from a socket."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from enum import IntEnum

from bridge.errors import ProtocolError

VERSION = 1
MAX_FRAME_LEN = 64 << 20  # the length field counts type + body
HEADER_LEN = 5


class FrameType(IntEnum):
    HELLO = 1
    WELCOME = 2
    BATCH = 3
    ACK = 4
    END = 5
    BYE = 6
    ERROR = 15


class ErrorCode(IntEnum):
    VERSION = 1
    MALFORMED = 2
    BUSY = 3
    SEQUENCE = 4
    TOO_LARGE = 5
    INTERNAL = 6


@dataclass(frozen=True, slots=True)
class Hello:
    version: int
    name: str


@dataclass(frozen=True, slots=True)
class Welcome:
    version: int
    instance_id: int
    last_seq: int
    max_batch_events: int
    max_record_bytes: int


@dataclass(frozen=True, slots=True)
class Batch:
    seq: int
    records: list[tuple[int, bytes]]  # (ts_ns, record JSON)


@dataclass(frozen=True, slots=True)
class Ack:
    seq: int


@dataclass(frozen=True, slots=True)
class End:
    pass


@dataclass(frozen=True, slots=True)
class Bye:
    last_seq: int


@dataclass(frozen=True, slots=True)
class Error:
    code: int
    message: str


Frame = Hello | Welcome | Batch | Ack | End | Bye | Error

_HDR = struct.Struct("<IB")
_HELLO = struct.Struct("<HH")
_WELCOME = struct.Struct("<HQQII")
_BATCH = struct.Struct("<QI")
_REC = struct.Struct("<QI")
_U64 = struct.Struct("<Q")
_ERROR = struct.Struct("<HH")
_KNOWN = frozenset(int(t) for t in FrameType)


def _frame(ftype: FrameType, body: bytes) -> bytes:
    return _HDR.pack(len(body) + 1, ftype) + body


def encode_hello(name: str, version: int = VERSION) -> bytes:
    raw = name.encode("utf-8")[:0xFFFF]
    return _frame(FrameType.HELLO, _HELLO.pack(version, len(raw)) + raw)


def encode_welcome(w: Welcome) -> bytes:
    body = _WELCOME.pack(w.version, w.instance_id, w.last_seq, w.max_batch_events, w.max_record_bytes)
    return _frame(FrameType.WELCOME, body)


def encode_batch(seq: int, records: list[tuple[int, bytes]]) -> bytes:
    builder = BatchBuilder()
    for ts_ns, raw in records:
        builder.add(ts_ns, raw)
    return bytes(builder.seal(seq))


def encode_ack(seq: int) -> bytes:
    return _frame(FrameType.ACK, _U64.pack(seq))


def encode_end() -> bytes:
    return _frame(FrameType.END, b"")


def encode_bye(last_seq: int) -> bytes:
    return _frame(FrameType.BYE, _U64.pack(last_seq))


def encode_error(code: int, message: str) -> bytes:
    raw = message.encode("utf-8")[:0xFFFF]
    return _frame(FrameType.ERROR, _ERROR.pack(code, len(raw)) + raw)


class BatchBuilder:
    """Builds one BATCH frame in place: records are appended to a single bytearray, the header
    is patched when sealed. No per-record objects survive, so the send path allocates little."""

    __slots__ = ("_buf", "count")

    def __init__(self) -> None:
        self._buf = bytearray(HEADER_LEN + _BATCH.size)
        self.count = 0

    @property
    def nbytes(self) -> int:
        return len(self._buf)

    def add(self, ts_ns: int, raw: bytes) -> None:
        self._buf += _REC.pack(ts_ns, len(raw))
        self._buf += raw
        self.count += 1

    def add_entries(self, entries: bytes | memoryview, count: int) -> None:
        """Appends `count` records already laid out as BATCH entries (ts_ns, len, bytes)."""
        self._buf += entries
        self.count += count

    def seal(self, seq: int) -> bytearray:
        """Returns the finished frame and starts a new, empty batch."""
        buf = self._buf
        length = len(buf) - 4
        if length > MAX_FRAME_LEN:
            raise ProtocolError(f"BATCH of {self.count} records is {length} bytes, above the 64 MiB frame limit")
        _HDR.pack_into(buf, 0, length, FrameType.BATCH)
        _BATCH.pack_into(buf, HEADER_LEN, seq, self.count)
        self._buf = bytearray(HEADER_LEN + _BATCH.size)
        self.count = 0
        return buf


def set_batch_seq(frame: bytearray, seq: int) -> None:
    """Renumbers a sealed BATCH frame (after the plugin restarted with a higher last_seq)."""
    _U64.pack_into(frame, HEADER_LEN, seq)


def parse_header(header: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(body length, type) from the 5 header bytes; bad length or unknown type is malformed."""
    length, ftype = _HDR.unpack_from(header, 0)
    if length < 1 or length > MAX_FRAME_LEN:
        raise ProtocolError(f"malformed frame: length {length} outside 1..{MAX_FRAME_LEN}")
    if ftype not in _KNOWN:
        raise ProtocolError(f"malformed frame: unknown type {ftype}")
    return length - 1, ftype


def _exact(name: str, body: bytes | memoryview, size: int) -> None:
    if len(body) < size:
        raise ProtocolError(f"malformed {name} frame: body is {len(body)} bytes, needs {size}")
    if len(body) > size:
        raise ProtocolError(f"malformed {name} frame: {len(body) - size} bytes left over")


def _text(name: str, body: bytes | memoryview) -> tuple[int, str]:
    _exact(name, body[:4], 4)
    num, text_len = _ERROR.unpack_from(body, 0)
    _exact(name, body, 4 + text_len)
    try:
        return num, bytes(body[4:]).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"malformed {name} frame: text is not UTF-8 ({e.reason})") from None


def _decode_batch(body: bytes | memoryview) -> Batch:
    _exact("BATCH", body[: _BATCH.size], _BATCH.size)
    seq, count = _BATCH.unpack_from(body, 0)
    off, end = _BATCH.size, len(body)
    if count > (end - off) // _REC.size:
        raise ProtocolError(f"malformed BATCH frame: says {count} records but has only {end - off} bytes")
    records: list[tuple[int, bytes]] = []
    for i in range(count):
        if end - off < _REC.size:
            raise ProtocolError(f"malformed BATCH frame: record {i} of {count} is truncated")
        ts_ns, rec_len = _REC.unpack_from(body, off)
        off += _REC.size
        if end - off < rec_len:
            raise ProtocolError(f"malformed BATCH frame: record {i} of {count} is truncated")
        records.append((ts_ns, bytes(body[off : off + rec_len])))
        off += rec_len
    if off != end:
        raise ProtocolError(f"malformed BATCH frame: {end - off} bytes left over")
    return Batch(seq, records)


def decode(ftype: int, body: bytes | memoryview) -> Frame:
    """One frame's body by type; raises ProtocolError naming the type and the problem."""
    if ftype == FrameType.HELLO:
        version, name = _text("HELLO", body)
        return Hello(version, name)
    if ftype == FrameType.WELCOME:
        _exact("WELCOME", body, _WELCOME.size)
        return Welcome(*_WELCOME.unpack_from(body, 0))
    if ftype == FrameType.BATCH:
        return _decode_batch(body)
    if ftype == FrameType.ACK:
        _exact("ACK", body, 8)
        return Ack(_U64.unpack_from(body, 0)[0])
    if ftype == FrameType.END:
        _exact("END", body, 0)
        return End()
    if ftype == FrameType.BYE:
        _exact("BYE", body, 8)
        return Bye(_U64.unpack_from(body, 0)[0])
    if ftype == FrameType.ERROR:
        code, message = _text("ERROR", body)
        return Error(code, message)
    raise ProtocolError(f"malformed frame: unknown type {ftype}")


def decode_frame(data: bytes) -> Frame:
    """Exactly one whole frame (header included)."""
    if len(data) < HEADER_LEN:
        raise ProtocolError(f"malformed frame: {len(data)} bytes, shorter than the 5-byte header")
    body_len, ftype = parse_header(data)
    _exact(FrameType(ftype).name, memoryview(data)[HEADER_LEN:], body_len)
    return decode(ftype, memoryview(data)[HEADER_LEN:])


class FrameReader:
    """Reads whole frames from a connected stream socket."""

    def __init__(self, sock: socket.socket, chunk: int = 64 * 1024) -> None:
        self._sock = sock
        self._buf = bytearray()
        self._chunk = chunk

    def _fill(self, n: int) -> bool:
        """Buffers at least n bytes; False if the peer closed first."""
        while len(self._buf) < n:
            data = self._sock.recv(max(self._chunk, n - len(self._buf)))
            if not data:
                return False
            self._buf += data
        return True

    def read(self) -> Frame | None:
        """The next frame, or None when the peer closed cleanly between frames.
        Raises ProtocolError on a malformed frame or a close inside one."""
        if not self._fill(HEADER_LEN):
            if self._buf:
                raise ProtocolError(f"connection closed inside a frame header ({len(self._buf)} of 5 bytes)")
            return None
        body_len, ftype = parse_header(self._buf)
        if not self._fill(HEADER_LEN + body_len):
            got = len(self._buf) - HEADER_LEN
            raise ProtocolError(
                f"connection closed inside a {FrameType(ftype).name} frame ({got} of {body_len} body bytes)"
            )
        body = bytes(self._buf[HEADER_LEN : HEADER_LEN + body_len])
        del self._buf[: HEADER_LEN + body_len]
        return decode(ftype, body)
