"""bridge/deliver/_fastpack.c against packed.py's pure-Python reference: the same Packed byte for
byte, or None from both, on the bench generator's files, the repository's CloudTrail files, hand-
made edge cases (every way fast_pack and _gunzip_bounded refuse a file) and seeded mutations."""

from __future__ import annotations

import gzip
import json
import random
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from test_packed import record  # the same record shape as the Python path's tests

from bridge.deliver import packed
from bridge.deliver.packed import Packed

try:
    from bridge.deliver import _fastpack as C
except ImportError:  # pragma: no cover - depends on the build
    pytest.skip("bridge.deliver._fastpack is not built (no compiler at install?): nothing to compare",
                allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
LIMIT = 4 << 20
T = TypeVar("T")


def fields(p: Packed | None) -> tuple[Any, ...] | None:
    return None if p is None else (p.name, p.data, p.ends, p.keys, p.bad, p.max_len, p.ts_range)


def with_c(use: bool, fn: Callable[[], T]) -> T:
    saved = packed._C
    packed._C = C if use else None  # type: ignore[assignment]
    try:
        return fn()
    finally:
        packed._C = saved  # type: ignore[assignment]


def same_blob(raw: bytes, limit: int = LIMIT) -> Packed | None:
    """pack_blob (gunzip, UTF-8 check, split), fast_pack and the gunzip alone: C == Python."""
    c = with_c(True, lambda: packed.pack_blob("f", raw, limit))
    py = with_c(False, lambda: packed.pack_blob("f", raw, limit))
    assert fields(c) == fields(py), raw[:200]
    assert with_c(True, lambda: fields(packed.fast_pack("f", raw, limit))) == fields(packed.fast_pack_py("f", raw, limit))
    if raw[:2] == b"\x1f\x8b":
        assert with_c(True, lambda: packed._gunzip_bounded(raw)) == packed._gunzip_bounded_py(raw)
    return c


def same_pack(data: bytes, limit: int = LIMIT) -> Packed | None:
    c = with_c(True, lambda: packed.fast_pack("f", data, limit))
    assert fields(c) == fields(packed.fast_pack_py("f", data, limit)), data[:200]
    assert C.pack(data, limit, packed.parse_rfc3339_ns, packed.in_range) is not False  # decided in C
    assert C.utf8_ok(data) == packed._utf8_ok_py(data)
    return c


def log_file(records: list[dict[str, object]], **kw: Any) -> bytes:
    kw.setdefault("separators", (",", ":"))
    return json.dumps({"Records": records}, ensure_ascii=False, **kw).encode()


@pytest.fixture(scope="module")
def bench_files(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    out = tmp_path_factory.mktemp("gen")
    subprocess.run([sys.executable, str(REPO / "bench" / "gen_records.py"), "--org", "--count", "6000",
                    "--per-file", "500", "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    files = sorted(out.rglob("*.json.gz"))
    assert len(files) == 12
    return [p.read_bytes() for p in files]


def test_bench_generator_files_are_packed_in_c_the_same(bench_files: list[bytes]) -> None:
    for raw in bench_files:
        assert C.gunzip(raw, packed._MAX_RATIO) is not False or not C.LIBDEFLATE  # libdeflate decided, not zlib
        p = same_blob(raw)
        assert p is not None and len(p.ends) == 500
        same_pack(zlib.decompress(raw, 47))


def repo_files() -> Iterator[Path]:
    for root in ("samples", "tests"):
        for p in sorted((REPO / root).rglob("*")):
            if p.is_file() and p.suffix in (".json", ".gz", ".jsonl", ".ndjson") and p.stat().st_size < 8 << 20:
                yield p


def test_repository_files() -> None:
    n = 0
    for p in repo_files():
        raw = p.read_bytes()
        same_blob(raw)
        same_blob(raw, 300)
        data = packed._gunzip_bounded_py(raw) if raw[:2] == b"\x1f\x8b" else raw
        if data is not None:
            n += same_pack(data) is not None
            same_pack(data, 500)
    assert n >= 2  # the seed scenario's log files at least


GOOD = log_file([record(i) for i in range(5)])
REC = json.dumps(record(1), separators=(",", ":")).encode()


def wrap(*recs: bytes, head: bytes = b'{"Records":[', sep: bytes = b",", tail: bytes = b"]}") -> bytes:
    return head + sep.join(recs) + tail


EDGE: list[bytes] = [
    GOOD, b"", b"{}", b"[]", b'{"Records":[]}', b'{"Records":[ ]}', b'{"Records":[\x0c]}', b'{"Records":[}',
    b'{"Records":]}', b'{"Records"}', b'{"records":[' + REC + b"]}", b'{"Records":{' + REC + b"}}",
    b"\xef\xbb\xbf" + GOOD, b"\xef\xbb\xbf \n" + GOOD, b"\xef\xbb" + GOOD, b" \t\n\r\x0b\x0c" + GOOD,
    GOOD + b" \n\r\t", GOOD + b"\x0c", GOOD[:-2] + b" ] \n}", GOOD[:-2] + b"\x0c]}", GOOD[:-1] + b"\x0b}",
    GOOD[:-1], GOOD[:-2], GOOD + b"x", b'{"Records":[' + REC, b'{"Records":[' + REC + b"}",
    b'{ "Records" : [ ' + REC + b" ] }", b'{\x0b"Records"\x0c:\x0c[\x0c' + REC + b"]}",
    log_file([record(i) for i in range(3)], indent=2).replace(b'"eventVersion": ', b'"eventVersion":'),
    json.dumps({"Records": [record(i) for i in range(3)]}, indent=2).encode(),
    json.dumps({"Records": [record(i) for i in range(3)]}).encode(),
    wrap(REC, REC, sep=b" , "), wrap(REC, REC, sep=b"\n,\n"), wrap(REC, REC, sep=b",\x0b\x0c"), wrap(REC, REC, sep=b""),
    wrap(REC, REC, sep=b" "), wrap(REC, REC, sep=b",,"), wrap(REC, REC[:-1] + b" }", sep=b","),
    wrap(REC[:-1] + b" ", REC), wrap(b"", REC), wrap(REC, b""), wrap(REC, b"x" + REC),
    wrap(REC, head=b'{"Records":[ '), wrap(REC, head=b'{"Records":[ x'), wrap(REC, head=b'{"Records":['),
    log_file([record(1, requestParameters={"x": [{"a": 1}, {"eventVersion": "x"}]})]),
    log_file([record(1, requestParameters={"x": [{"a": 1}, {"eventVersion": "x", "eventID": "n"}]})]),
    log_file([record(1, requestParameters={"x": [{"a": 1}, {"eventVersion": "x"}]}, eventID="z")]),
    log_file([record(0), {**record(1), "eventID": "a\"b"}]), log_file([{**record(1), "eventID": "a\\b"}]),
    log_file([record(1, responseElements={"eventID": "inner"})]),
    log_file([{k: v for k, v in record(1).items() if k != "eventID"}]),
    log_file([{k: v for k, v in record(1).items() if k != "eventTime"}]),
    log_file([{**record(1), "eventID": ""}]), log_file([{**record(1), "eventID": "é€😀"}]),
    *(log_file([record(0), {**record(1), "eventID": "x" * n}]) for n in (1, 63, 64, 127, 128, 129, 200, 256, 257, 1000)),
    wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z","a":"eventID":"eventID":"id1"}'),
    wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z","a":"eventID":"eventID":"x","eventID":"i"}'),
    wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z","eventID":"id0","eventID":"id1"}'),
    wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z","eventID":"eventID":"id1"}'),
    wrap(b'{"eventVersion":"1","eventID":"i","eventTime":"2024-05-01T00:00:00Z"}'),
    wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z","eventID":"i'),
    wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z,"eventID":"i"}'),
    wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z","eventTime":"x","eventID":"i"}'),
    wrap(b'{"eventVersion":"1","eventTime":"x","eventTime":"2024-05-01T00:00:00Z","eventID":"i"}'),
    wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z"}', b'{"eventVersion":"1","eventID":"i"}'),
    wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z","eventID":"i\\"}'),
    wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z","eventID":"\\u0041"}'),
    wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z","eventID":"\xff\xfe"}'),
    wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00\xc3\xa9","eventID":"i"}'),
]
for t in ["2024-05-01T00:00:00\\u005a", "2024-05-01T00:00:00.123456789Z", "2024-05-01T00:00:00.1234567891234Z",
          "2024-05-01T00:00:00.5+02:00", "2024-05-01T00:00:00-23:59", "2024-05-01t00:00:00z", "2024-05-01 00:00:00Z",
          "2024-05-01T24:00:00Z", "2024-02-30T00:00:00Z", "2024-05-01T00:00:60Z", "1970-01-01T00:00:00Z",
          "1969-12-31T23:59:59Z", "1970-01-01T00:00:00+00:01", "2554-07-21T23:34:33Z", "2554-07-21T23:34:34Z",
          "2554-07-21T23:34:33.709551615Z", "2554-07-21T23:34:33.709551616Z", "9999-12-31T23:59:59Z",
          "0000-01-01T00:00:00Z", "2024-05-01T00:00:00", "yesterday", "", "٢٠٢٤-05-01T00:00:00Z"]:
    EDGE.append(log_file([record(0), record(1, eventTime=t), record(2)]))
    EDGE.append(log_file([record(1, eventTime=t)]))


@pytest.mark.parametrize("i", range(len(EDGE)))
def test_edge_cases(i: int) -> None:
    data = EDGE[i]
    p = same_pack(data)
    same_blob(data)
    same_blob(gzip.compress(data, mtime=0))
    if p is not None and p.ends:  # the record limit: exactly the longest record, and one below
        same_pack(data, p.max_len)
        same_pack(data, p.max_len - 1)
        same_pack(data, -1)
        same_pack(data, 1 << 80)


def test_edge_cases_cover_acceptance_and_refusal() -> None:
    got = [packed.fast_pack_py("f", d, LIMIT) for d in EDGE]
    assert sum(p is None for p in got) > 40 and sum(p is not None and bool(p.ends) for p in got) > 20
    assert any(p is not None and not p.ends for p in got)  # empty Records


def gz_header(flags: int, extra: bytes = b"") -> bytes:
    return b"\x1f\x8b\x08" + bytes([flags]) + b"\x00\x00\x00\x00\x00\xff" + extra


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def trailer(data: bytes) -> bytes:
    return struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def test_gzip_cases() -> None:
    gz = gzip.compress(GOOD, mtime=0)
    fname = gz_header(0x08, b"name.json\x00") + raw_deflate(GOOD) + trailer(GOOD)
    hdr = gz_header(0x02)
    fhcrc = hdr + struct.pack("<H", zlib.crc32(hdr) & 0xFFFF) + raw_deflate(GOOD) + trailer(GOOD)
    bad_fhcrc = hdr + b"\x00\x00" + raw_deflate(GOOD) + trailer(GOOD)
    extra = gz_header(0x04 | 0x10, b"\x03\x00abc" + b"comment\x00") + raw_deflate(GOOD) + trailer(GOOD)
    cases = {
        "plain": gz, "fname": fname, "fhcrc": fhcrc, "bad fhcrc": bad_fhcrc, "fextra+fcomment": extra,
        "reserved flag": gz_header(0x20) + raw_deflate(GOOD) + trailer(GOOD),
        "two members": gz + gzip.compress(GOOD, mtime=0), "member + empty member": gz + gzip.compress(b"", mtime=0),
        "empty": gzip.compress(b"", mtime=0), "empty + NULs": gzip.compress(b"", mtime=0) + b"\x00" * 9,
        "truncated": gz[:-1], "truncated more": gz[: len(gz) // 2], "magic only": b"\x1f\x8b", "header only": gz[:10],
        "bad crc": gz[:-8] + b"\x00\x00\x00\x00" + gz[-4:], "bad isize": gz[:-4] + struct.pack("<I", len(GOOD) + 1),
        "isize smaller": gz[:-4] + struct.pack("<I", len(GOOD) - 1),
        "garbage": gz + b"garbage", "one garbage byte": gz + b"\x01", "NUL then garbage": gz + b"\x00\x00x",
        "not deflate": b"\x1f\x8b\x07" + gz[3:],
        **{f"{n} NULs": gz + b"\x00" * n for n in (1, 2, 3, 4, 5, 8, 100)},
    }
    rng = random.Random(11)
    for i in range(200):  # damage inside the deflate stream
        b = bytearray(gz)
        b[rng.randrange(10, len(b))] ^= 1 << rng.randrange(8)
        cases[f"flip {i}"] = bytes(b)
    for name, raw in cases.items():
        c = with_c(True, lambda: packed._gunzip_bounded(raw))
        assert c == packed._gunzip_bounded_py(raw), name
        same_blob(raw)
    if not C.LIBDEFLATE:  # built without libdeflate: gunzip is always zlib's (packed.py)
        assert C.gunzip(gz, 64) is False
        return
    assert C.gunzip(gz, 64) == GOOD and C.gunzip(fname, 64) == GOOD and C.gunzip(extra, 64) == GOOD
    assert C.gunzip(gz + gz, 64) is None  # decided in C: the trailer read from the end fits the first member
    # left to zlib: a header CRC, a trailer that is not at the end (garbage, NULs), damage
    assert all(C.gunzip(r, 64) is False for r in (fhcrc, gz + b"garbage", gz + b"\x00", gz[:-1], gz[:-4] + b"\xff" * 4))


def test_gzip_ratio_cap() -> None:
    for size in (100_000, 3 << 20, 8 << 20):
        same_blob(gzip.compress(b'{"Records":[' + b" " * size + b"]}", mtime=0))
    # An output around the cap (64 x input + 1 MiB): exactly the cap is still whole for zlib; C leaves
    # that size to zlib.
    # (the gzip file's size set with an FEXTRA field of the right length)
    for delta in (0, -1, 1, -4096):
        size = 2 << 20
        size += ((1 << 20) + delta - size) % 64
        body = b'{"Records":[' + b" " * (size - 14) + b"]}"
        deflated = raw_deflate(body)
        gz_len = (len(body) - (1 << 20) - delta) // 64
        xlen = gz_len - 10 - 2 - len(deflated) - 8
        raw = gz_header(0x04, struct.pack("<H", xlen) + b"x" * xlen) + deflated + trailer(body)
        assert len(body) == 64 * len(raw) + (1 << 20) + delta
        assert with_c(True, lambda: packed._gunzip_bounded(raw)) == packed._gunzip_bounded_py(raw), delta
        assert (packed._gunzip_bounded_py(raw) is None) == (delta > 0), delta
        assert (C.gunzip(raw, 64) is False) == (delta >= 0 or not C.LIBDEFLATE)  # at or above the cap: zlib's


def test_utf8_check_is_pythons() -> None:
    pieces = [b"a", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xed\x9f\xbf", b"\xed\xa0\x80", b"\xc0\x80",
              b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\xa0\x80", b"\xf0\x80\x80\x80", b"\xf0\x90\x80\x80",
              b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\x80", b"\xbf", b"\xc3",
              b"\xe2\x82", b"\xf0\x9f\x98", b"\x00", b"x" * 9]
    rng = random.Random(2)
    for _ in range(20000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert C.utf8_ok(data) == packed._utf8_ok_py(data), data
    for _ in range(5000):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))
        assert C.utf8_ok(data) == packed._utf8_ok_py(data), data
    bad = log_file([record(0), record(1)]).replace(b"k\xc3\xa9", b"k\xe9")
    assert same_blob(bad) is None and same_blob(gzip.compress(bad)) is None
    assert same_pack(bad) is not None  # fast_pack itself does not check (pack_file's way)
    assert same_blob(log_file([record(0), record(1, eventName="\u00e9\u20ac\U0001f600")])) is not None


def test_event_keys_are_blake2b() -> None:
    rng = random.Random(4)
    for n in [*range(0, 300), 1000, 4096]:
        eid = bytes(rng.choice(b"abcdef0123456789-\xc3\xa9") for _ in range(n)).replace(b'"', b"").replace(b"\\", b"")
        data = wrap(b'{"eventVersion":"1","eventTime":"2024-05-01T00:00:00Z","eventID":"' + eid + b'"}')
        p = same_pack(data)
        assert p is not None and p.keys == [packed.event_key(eid) if eid else 0]


TOKENS = [b'"eventID":"', b'{"eventVersion"', b"},", b",", b"}", b"{", b"]", b"[", b'"', b"\\", b" ", b"\n", b"\x0c",
          b'"eventTime":"', b"2024-05-01T00:00:00Z", b"\xff", b"\xc3\xa9", b"\x00", b'"eventID":"eventID":"', b":"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(at, len(b) - 1)] = rng.randrange(256)
        elif op == 1:
            b[at:at] = rng.choice(TOKENS)
        elif op == 2:
            del b[at:at + rng.randint(1, 40)]
        elif op == 3:
            n = rng.randint(1, 200)
            b[at:at] = b[at:at + n]
        elif op == 4:
            del b[at:]
        else:
            tok = rng.choice(TOKENS)
            i = bytes(b).find(tok, at)
            if i >= 0:
                b[i:i + len(tok)] = rng.choice(TOKENS)
    return bytes(b)


def test_seeded_mutations_of_real_files(bench_files: list[bytes]) -> None:
    rng = random.Random(7)
    small = [log_file([record(i) for i in range(rng.randint(1, 6))]) for _ in range(5)]
    small.append(wrap(REC, REC, sep=b" ,\n "))
    seeds = [*small, zlib.decompress(bench_files[0], 47)[:30000]]
    for p in repo_files():
        raw = p.read_bytes()
        d = packed._gunzip_bounded_py(raw) if raw[:2] == b"\x1f\x8b" else raw
        if d is not None and packed.fast_pack_py("f", d, LIMIT) is not None and len(d) < 200_000:
            seeds.append(d)
    accepted = 0
    for i in range(3000):
        data = mutate(rng, rng.choice(seeds))
        accepted += same_pack(data, rng.choice([LIMIT, 2000, 400])) is not None
        if i % 10 == 0:
            same_blob(data)
            gz = gzip.compress(data, mtime=0)
            same_blob(gz)
            same_blob(mutate(rng, gz))
    assert accepted > 300  # the mutations reach the accepting path too, not only refusals
