"""bridge/deliver/_fastpack.c: packed.py's gunzip, UTF-8 check and fast split in C. Each function
gives what its Python reference in packed.py gives, or False: "not sure, run the Python code"."""

from collections.abc import Callable
from typing import Literal

LIBDEFLATE: int

def gunzip(raw: bytes, max_ratio: int, /) -> bytes | None | Literal[False]: ...
def utf8_ok(data: bytes, /) -> bool: ...
def pack(
    data: bytes,
    max_record_bytes: int,
    parse: Callable[[str], int | None],
    in_range: Callable[[int], bool],
    /,
) -> tuple[bytes, list[int], list[int], int, tuple[int, int] | None] | None | Literal[False]: ...
