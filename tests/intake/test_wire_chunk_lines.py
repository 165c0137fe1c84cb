"""A chunk-size or trailer line's limit gives the same verdict however the bytes arrive: a line
over 1 KiB was accepted when it came in one read and refused when it came in several (found by
fuzzing, tests/fuzz_py/crashes/http_chunked)."""

from __future__ import annotations

import pytest

from bridge.intake.wire import MAX_CHUNK_LINE, Chunked, HttpError


def _feed(body: bytes, cut: int) -> bytes | str:
    dec, buf = Chunked(1 << 20), bytearray()
    try:
        for i in range(0, len(body), cut):
            buf += body[i:i + cut]
            got = dec.feed(buf)
            if got is not None:
                return got
    except HttpError as e:
        return f"{e.status} {e.reason}"
    return "incomplete"


@pytest.mark.parametrize("where", ["size", "trailer"])
@pytest.mark.parametrize("length", [MAX_CHUNK_LINE + d for d in (-1, 0, 1, 2)])
def test_line_limit_is_the_same_for_every_cut(where: str, length: int) -> None:
    if where == "size":
        body = b"a;" + b"x" * (length - 2) + b"\r\n0123456789\r\n0\r\n\r\n"
    else:
        body = b"a\r\n0123456789\r\n0\r\nX-T: " + b"x" * (length - 5) + b"\r\n\r\n"
    verdicts = {cut: _feed(body, cut) for cut in (1, 2, 3, 7, 64, len(body))}
    assert len(set(verdicts.values())) == 1, verdicts
    refused = "400 chunk size line too long" if where == "size" else "400 chunked trailer line too long"
    want = b"0123456789" if length <= MAX_CHUNK_LINE else refused
    assert verdicts[1] == want
