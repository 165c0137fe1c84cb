"""eventTime outside what Falco's unsigned 64-bit ns timestamps hold (before 1970, after
2554-07-21): found by fuzzing (tests/fuzz_py). The fast split of replay raised struct.error on
such a file, and the parsers passed the time on. Now each such record is a BadItem naming the
range, in every path, and the file's other records still come through."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bridge.deliver.packed import pack_file
from bridge.model import BadItem, Blob, Record
from bridge.normalize.logfile import records_from_blob
from bridge.normalize.stream import records_from_chunks


def _rec(i: int, t: str) -> bytes:
    return orjson.dumps({"eventVersion": "1.08", "eventTime": t, "eventName": "GetObject", "eventID": f"id-{i}"})


TIMES = ["2024-05-01T12:00:00Z", "2826-11-20T10:16:40Z", "1969-12-31T23:59:59Z", "2554-07-21T23:34:33Z",
         "2554-07-21T23:34:34Z", "1970-01-01T00:00:00Z"]
# 2554-07-21T23:34:33.709551615Z is 2**64 - 1 ns: the last second in range starts just before it.
GOOD = {0, 3, 5}
DATA = b'{"Records":[' + b",".join(_rec(i, t) for i, t in enumerate(TIMES)) + b"]}"


def _check(items: list[Record | BadItem]) -> None:
    recs = [i for i in items if isinstance(i, Record)]
    bad = [i for i in items if isinstance(i, BadItem)]
    assert sorted(int(orjson.loads(r.raw)["eventID"].split("-")[1]) for r in recs) == sorted(GOOD)
    assert len(bad) == len(TIMES) - len(GOOD)
    assert all("outside 1970..2554" in b.reason for b in bad), [b.reason for b in bad]


def test_replay_fast_path(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(DATA)
    packed = pack_file(str(path), 1 << 20)  # raised struct.error before
    _check([*packed.records(), *packed.bad])


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_stream(chunk: int) -> None:
    _check(list(records_from_chunks("t.json", [DATA[i:i + chunk] for i in range(0, len(DATA), chunk)])))


def test_logfile_parser() -> None:
    _check(list(records_from_blob(Blob("t.jsonl", b"\n".join(_rec(i, t) for i, t in enumerate(TIMES))))))
