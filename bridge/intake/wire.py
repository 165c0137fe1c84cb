"""HTTP/1.1 request heads and chunked bodies, parsed from bytes with hard limits (no I/O here).

Only what Falco's http_output (libcurl: POST, Content-Length, keep-alive, Expect: 100-continue)
and falcosidekick (Go net/http) send is accepted; anything else gets a clear status, never a
guess. Every size is bounded before the bytes are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_HEAD_BYTES = 32 * 1024  # request line + headers; libcurl and sidekick send well under 1 KiB
MAX_HEADERS = 100
MAX_CHUNK_LINE = 1024

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(rb"[0-9]{1,19}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class HttpError(Exception):
    """A request the server answers with `status` and closes (or keeps, if `keep`) the connection."""

    def __init__(self, status: int, reason: str, keep: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.keep = keep


@dataclass(slots=True)
class Head:
    method: str
    target: str
    version: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    length: int  # Content-Length, or -1 when chunked
    keep_alive: bool
    expect_continue: bool

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


def parse_head(raw: bytes) -> Head:
    """The request line and headers (without the blank line). HttpError names what is wrong."""
    lines = raw.split(b"\r\n")
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431, f"more than {MAX_HEADERS} header lines")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise HttpError(400, f"bad request line {lines[0][:60]!r}")
    method, target, version = (p.decode("latin-1") for p in parts)
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505 if version.startswith("HTTP/") else 400, f"unsupported version {version[:20]!r}")
    headers: dict[str, str] = {}
    lengths: set[bytes] = set()
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            # includes obsolete line folding (a line starting with a space), which RFC 9112 lets us refuse
            raise HttpError(400, f"bad header line {line[:60]!r}")
        value = value.strip(b" \t")
        key = name.decode("latin-1").lower()
        if key == "content-length":
            lengths.update(v.strip() for v in value.split(b","))
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    te = headers.get("transfer-encoding")
    if te is not None:
        if lengths:
            raise HttpError(400, "both Transfer-Encoding and Content-Length")  # request smuggling shape
        if te.strip().lower() != "chunked":
            raise HttpError(501, f"Transfer-Encoding {te[:40]!r} is not supported; send Content-Length")
        length = -1
    elif len(lengths) > 1:
        raise HttpError(400, "conflicting Content-Length values")
    elif lengths:
        (value,) = lengths
        if not _DIGITS.fullmatch(value):
            raise HttpError(400, f"bad Content-Length {value[:40]!r}")
        length = int(value)
    elif method in ("POST", "PUT"):
        raise HttpError(411, "Content-Length required")
    else:
        length = 0
    conn = headers.get("connection", "").lower()
    keep = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
    expect = headers.get("expect", "").lower()
    if expect and expect != "100-continue":
        raise HttpError(417, f"Expect {expect[:40]!r} is not supported")
    return Head(method, target, version, headers, length, keep, expect == "100-continue")


def _line_too_long(buf: bytearray, end: int) -> bool:
    # Whether or not the line's end (CRLF at `end`) has arrived, so that the verdict does not
    # depend on how the bytes were cut into reads (found by fuzzing, tests/fuzz_py); + 1: a CR
    # may still wait for its LF.
    return end > MAX_CHUNK_LINE or (end < 0 and len(buf) > MAX_CHUNK_LINE + 1)


class Chunked:
    """Decodes a chunked body incrementally from a buffer, at most `limit` bytes of data."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.total = 0
        self._size = -1  # bytes of data still to read in the current chunk; -1: expecting a size line
        self._trailers = False

    def feed(self, buf: bytearray) -> bytes | None:
        """Consume what it can from buf; the whole body once the last chunk and trailers are in."""
        while True:
            if self._trailers:
                end = buf.find(b"\r\n")
                if _line_too_long(buf, end):
                    raise HttpError(400, "chunked trailer line too long")
                if end < 0:
                    return None
                line = bytes(buf[:end])
                del buf[:end + 2]
                if not line:
                    return b"".join(self.parts)
                continue
            if self._size < 0:
                end = buf.find(b"\r\n")
                if _line_too_long(buf, end):
                    raise HttpError(400, "chunk size line too long")
                if end < 0:
                    return None
                field = bytes(buf[:end]).split(b";", 1)[0].strip(b" \t")
                del buf[:end + 2]
                if not _HEX.fullmatch(field):
                    raise HttpError(400, f"bad chunk size {field[:20]!r}")
                size = int(field, 16)
                if self.total + size > self.limit:
                    raise HttpError(400, f"chunked body over the {self.limit} byte limit")
                if size == 0:
                    self._trailers = True
                    continue
                self._size = size
            if len(buf) < self._size + 2:
                return None
            if buf[self._size:self._size + 2] != b"\r\n":
                raise HttpError(400, "chunk data not followed by CRLF")
            self.parts.append(bytes(buf[:self._size]))
            self.total += self._size
            del buf[:self._size + 2]
            self._size = -1
