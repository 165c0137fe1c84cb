"""The C fast path (bridge/deliver/_fastpack.c) against packed.py's pure-Python reference, as a
fuzz target in the style of targets.py: any bytes, as a log file (plain, gzip'd, or as gzip bytes
themselves), give the same Packed (or None) both ways, and the same gunzip and UTF-8 answers.

    .venv/bin/python tests/fuzz_py/fastpack_c.py [libFuzzer options] DIR...

runs it under atheris (seeds: tests/fuzz_py/seeds/ and seeds_fastpack_c/, the latter with gzip
edge cases: several members, trailing NULs, a header CRC). test_fuzz_corpus.py replays both seed
directories and crashes/fastpack_c/ in every test run. Without the extension it checks nothing.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.deliver import packed

try:
    from bridge.deliver import _fastpack as C
except ImportError:
    C = None  # type: ignore[assignment]

HERE = Path(__file__).resolve().parent
_LIMITS = (64 * 1024, 4096, 300, 0)


def _fields(p: packed.Packed | None) -> tuple[Any, ...] | None:
    return None if p is None else (p.name, p.data, p.ends, p.keys, p.bad, p.max_len, p.ts_range)


def _both(fn: Callable[[], Any]) -> tuple[Any, Any]:
    saved = packed._C
    try:
        packed._C = C
        c = fn()
        packed._C = None  # type: ignore[assignment]
        return c, fn()
    finally:
        packed._C = saved


def fastpack_c(data: bytes) -> None:
    """C and Python agree on fast_pack, pack_blob, _gunzip_bounded and the UTF-8 check."""
    if C is None or not data:
        return
    mode, limit, body = data[0] % 4, _LIMITS[(data[0] >> 2) % len(_LIMITS)], data[1:]
    if mode == 2:
        body = gzip.compress(body, mtime=0)
    elif mode == 3 and body[:2] != b"\x1f\x8b":
        body = b"\x1f\x8b" + body
    c, py = _both(lambda: _fields(packed.pack_blob("t.json", body, limit)))
    assert c == py, "pack_blob differs"
    c, py = _both(lambda: _fields(packed.fast_pack("t.json", body, limit)))
    assert c == py, "fast_pack differs"
    assert C.utf8_ok(body) == packed._utf8_ok_py(body), "UTF-8 check differs"
    if body[:2] == b"\x1f\x8b":
        c, py = _both(lambda: packed._gunzip_bounded(body))
        assert c == py, "gunzip differs"


TARGETS: dict[str, Callable[[bytes], None]] = {"fastpack_c": fastpack_c}
SEEDS = [HERE / "seeds", HERE / "seeds_fastpack_c"]


def main() -> None:
    import atheris

    atheris.instrument_all()  # packed.py was imported above: its Python reference guides the search
    atheris.Setup(sys.argv, fastpack_c)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
