#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora to tests/data/fuzz/<target>/ from the repository's own
real-shaped records (tests/data/records, samples/seed) plus hand-made edge cases.

Run again after adding records; the output is deterministic (sorted inputs, fixed names).
Files named regress-* (inputs that once crashed or diverged) are kept.
Each fuzzer's input layout is described in its source file (plugin/fuzz/fuzz_*.cpp).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "fuzz"


def records() -> list[bytes]:
    recs = [p.read_bytes().strip() for p in sorted((ROOT / "tests" / "data" / "records").glob("*.json"))]
    for p in sorted((ROOT / "samples" / "seed").glob("*.json.gz")):
        doc = json.loads(gzip.decompress(p.read_bytes()))
        recs += [json.dumps(r, separators=(",", ":")).encode() for r in doc["Records"][:8]]
    return recs


EDGE = [
    b"{}", b"[]", b'{"a":"\\ud83d\\ude00"}', b'{"a":"\\ud800"}', b'{"a":"\\udc00x"}', b'{"a":1e400}',
    b'{"a":-0.0e-5}', b"[" * 40 + b"]" * 40, b'{"a":"\x01\\q"}', b'{"a":tru}', b'{"a":1,}', b"  \n",
    b'{"eventTime":"2024-02-29T23:59:60.123456789+14:00","eventType":"AwsApiCall"}',
    b'{"eventTime":"9999-12-31T23:59:59Z","eventType":"AwsCloudTrailInsight"}',
]


def frame(t: int, body: bytes) -> bytes:
    return struct.pack("<IB", len(body) + 1, t) + body


def protocol_seeds(recs: list[bytes]) -> list[bytes]:
    hello = frame(1, struct.pack("<HH", 1, 8) + b"ctbridge")
    welcome = frame(2, struct.pack("<HQQII", 1, 7, 3, 512, 4 << 20))
    batch = frame(3, struct.pack("<QI", 4, 2) + b"".join(struct.pack("<QI", 10**18, len(r)) + r for r in recs[:2]))
    return [
        hello + batch + frame(5, b""),
        welcome + frame(4, struct.pack("<Q", 4)) + frame(6, struct.pack("<Q", 4)),
        frame(15, struct.pack("<HH", 2, 5) + b"oops!"),
        frame(3, struct.pack("<QI", 1, 0)),
        struct.pack("<IB", 0, 3), struct.pack("<IB", 5, 9) + b"\0" * 4,
        frame(3, struct.pack("<QI", 1, 0xFFFFFFFF)),
    ]


def write(target: str, items: list[bytes]) -> None:
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    for old in d.iterdir():
        if not old.name.startswith("regress-"):  # inputs that once failed stay for good
            old.unlink()
    for it in items:
        (d / hashlib.sha1(it).hexdigest()[:16]).write_bytes(it)


def main() -> int:
    recs = records()
    docs = recs + EDGE
    write("fuzz_json_scan", docs + [b'{"Records":[' + b",".join(recs[:3]) + b"]}"])
    write("fuzz_json_diff", docs)
    ptrs = [b"", b"/userIdentity/arn", b"/requestParameters/x~1y/0", b"/a~2", b"/Records/01"]
    write("fuzz_record", [p + b"\0" + r for p, r in zip(ptrs * len(docs), docs)] + docs)
    # fuzz_extract: u8 flags, u64 index, key, NUL, payload.
    keys = [b"/userIdentity/type", b"/resources/0/ARN", b"recent_logins", b""]
    write("fuzz_extract", [b"\x01" + struct.pack("<Q", i % 3) + k + b"\0" + r
                           for i, (k, r) in enumerate(zip(keys * len(recs), recs))] + [b"\0" * 10 + e for e in EDGE])
    write("fuzz_protocol", protocol_seeds(recs))
    # fuzz_socket_source: u8 maxBatchEvents, u8 chunk size, then what a bridge sends.
    hello = frame(1, struct.pack("<HH", 1, 4) + b"fuzz")
    small = [r for r in recs if len(r) <= 1024][:4]

    def batch(seq: int, rs: list[bytes]) -> bytes:
        return frame(3, struct.pack("<QI", seq, len(rs)) + b"".join(struct.pack("<QI", 10**18, len(r)) + r for r in rs))

    write("fuzz_socket_source", [
        b"\x03\xff" + hello + batch(1, small) + batch(2, small[:1]) + frame(5, b""),
        b"\x00\x07" + hello + batch(5, small) + batch(5, small) + batch(3, small) + frame(5, b""),
        b"\x07\x00" + hello + batch(1, []) + batch(2, small * 3),
        b"\x01\x10" + batch(1, small),  # no HELLO first
        b"\x01\x10" + frame(1, struct.pack("<HH", 2, 0)),  # version 2
        b"\x01\x10" + hello + batch(0, small),  # seq 0
        b"\x01\x10" + hello + frame(3, struct.pack("<QI", 1, 1) + struct.pack("<QI", 1, 2000) + b"{" * 2000),
        b"\x01\x10" + hello + frame(15, struct.pack("<HH", 6, 3) + b"bye"),
    ])
    write("fuzz_config", [b"", b"{}", b'{"maxBatchEvents":1,"socketMode":"0660"}', b'{"socketMode":660}',
                          b'{"maxRecordBytes":67108865}', b'{"skipInsights":"true"}', b'{"x":1}', b"[1]"])
    logfile = b'{"Records":[' + b",".join(recs[:6]) + b"]}"
    lines = b"\n".join(recs[:6]) + b"\n"
    # fuzz_file_source: the provider takes kind/flags from the input's end, the body from its front.
    # fuzz_file_source: u8 kind, u8 flags, u8 batch, u16 cut, the file's bytes.
    def head(kind: int, flags: int) -> bytes:
        return bytes([kind, flags, 3]) + struct.pack("<H", 7)

    write("fuzz_file_source", [head(k, k & 1) + logfile for k in range(6)] + [head(k, 2) + lines for k in range(6)]
          + [head(0, 0) + logfile[: len(logfile) // 2]]
          # a 20-byte gzip whose trailer claims 4 GiB (the ISIZE finding)
          + [head(5, 0) + bytes.fromhex("1f8b0800000000000003030000000000ffffffff")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
