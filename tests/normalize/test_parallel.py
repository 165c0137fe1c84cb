"""Normalizing in worker processes gives exactly the single-process items, in the same order."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from bridge.model import BadItem, Record
from bridge.sources.local import iter_local_records


def _record(i: int) -> dict[str, object]:
    return {"eventVersion": "1.08", "eventTime": f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "eventID": f"id-{i}", "eventName": "GetObject", "eventSource": "s3.amazonaws.com",
            "requestParameters": {"bucketName": "b", "key": f"k{i}"}}


def _inputs(root: Path) -> None:
    for f in range(6):
        recs = [_record(f * 100 + i) for i in range(50)]
        if f == 2:
            recs[7] = {"eventVersion": "1.08", "eventName": "NoTime"}  # a bad record amid good ones
        (root / f"f{f}.json.gz").write_bytes(gzip.compress(json.dumps({"Records": recs}).encode()))
    (root / "f3b.json.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    (root / "f4b.jsonl").write_text("\n".join(json.dumps(_record(900 + i)) for i in range(5)) + "\n{oops\n")


def _key(item: Record | BadItem) -> tuple[object, ...]:
    if isinstance(item, Record):
        return ("R", item.raw, item.ts_ns, item.origin, item.event_id)
    return ("B", item.origin, item.reason)


def test_workers_give_the_same_items_in_the_same_order(tmp_path: Path) -> None:
    _inputs(tmp_path)
    single = [_key(i) for i in iter_local_records([tmp_path], workers=1)]
    parallel = [_key(i) for i in iter_local_records([tmp_path], workers=2)]
    assert parallel == single
    assert sum(1 for k in single if k[0] == "R") == 6 * 50 - 1 + 5
    assert [k[1] for k in single if k[0] == "B"] == [f"{tmp_path}/f2.json.gz#7", f"{tmp_path}/f3b.json.gz",
                                                     f"{tmp_path}/f4b.jsonl#line6"]


def test_stopping_early_shuts_the_workers_down(tmp_path: Path) -> None:
    _inputs(tmp_path)
    it = iter_local_records([tmp_path], workers=2)
    first = next(it)
    assert isinstance(first, Record) and first.event_id == "id-0"
    it.close()  # the pool is shut down by the generator's cleanup, without hanging
