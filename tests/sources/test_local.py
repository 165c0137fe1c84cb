from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.model import BadItem, Blob, Record
from bridge.sources._base import BlobError, Source, iter_blobs
from bridge.sources.local import LocalSource, iter_local_records

SEED = Path(__file__).parents[2] / "samples" / "seed"


def record(i: int) -> dict[str, object]:
    return {"eventVersion": "1.08", "eventTime": "2026-11-20T10:00:00Z", "eventName": "X", "eventID": f"id-{i}"}


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tree(root: Path) -> None:
    write(root / "b" / "2.json.gz", gzip.compress(json.dumps({"Records": [record(2)]}).encode()))
    write(root / "a.json", json.dumps({"Records": [record(1)]}).encode())
    write(root / "b" / "1.jsonl", json.dumps(record(3)).encode() + b"\n")
    write(root / "c" / "x.ndjson.gz", gzip.compress(json.dumps(record(4)).encode()))
    write(root / "c" / "y.ndjson", json.dumps(record(5)).encode())
    write(root / "c" / "z.jsonl.gz", gzip.compress(json.dumps(record(6)).encode()))
    # Skipped: hidden files and directories, other names.
    write(root / ".hidden.json", b"{}")
    write(root / ".git" / "obj.json", b"{}")
    write(root / "README.md", b"# no")
    write(root / "expected_alerts.yaml", b"a: 1")
    write(root / "notes.json.bak", b"{}")


def test_walks_recursively_in_sorted_order_and_filters_names(tmp_path: Path) -> None:
    tree(tmp_path)
    names = [Path(b.name).relative_to(tmp_path).as_posix() for b in LocalSource([tmp_path]).blobs()]
    assert names == ["a.json", "b/1.jsonl", "b/2.json.gz", "c/x.ndjson.gz", "c/y.ndjson", "c/z.jsonl.gz"]


def test_blobs_are_read_lazily_one_at_a_time(tmp_path: Path) -> None:
    tree(tmp_path)
    it = LocalSource([tmp_path]).blobs()
    first = next(it)
    assert first.name.endswith("a.json")
    (tmp_path / "b" / "2.json.gz").write_bytes(b"changed after the walk started")
    rest = list(it)
    assert rest[1].data == b"changed after the walk started"


def test_explicit_files_in_given_order_whatever_their_name(tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", b"{}")
    b = write(tmp_path / "b.json", b"[]")
    assert [x.name for x in LocalSource([b, str(a)]).blobs()] == [str(b), str(a)]


def test_missing_path_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.json"):
        LocalSource([tmp_path, tmp_path / "nope.json"])
    with pytest.raises(ConfigError, match="no paths"):
        LocalSource([])


def test_unreadable_entries_become_bad_items_and_the_walk_goes_on(tmp_path: Path) -> None:
    write(tmp_path / "a.json", json.dumps(record(1)).encode())
    os.symlink(tmp_path / "gone.json", tmp_path / "b.json")  # dangling
    os.mkfifo(tmp_path / "c.json")  # reading it would block forever
    write(tmp_path / "d.json", json.dumps(record(4)).encode())
    items = list(iter_blobs(LocalSource([tmp_path])))
    assert [type(i) for i in items] == [Blob, BadItem, BadItem, Blob]
    assert isinstance(items[1], BadItem) and items[1].origin == str(tmp_path / "b.json")
    assert "dangling symlink" in items[1].reason
    assert isinstance(items[2], BadItem) and "not a regular file" in items[2].reason


def test_the_raw_iterator_raises_blob_error_and_stays_usable(tmp_path: Path) -> None:
    os.symlink(tmp_path / "gone", tmp_path / "a.json")
    write(tmp_path / "b.json", b"{}")
    it = LocalSource([tmp_path]).blobs()
    with pytest.raises(BlobError) as exc:
        next(it)
    assert exc.value.origin == str(tmp_path / "a.json")
    assert next(it).name == str(tmp_path / "b.json")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_permission_denied(tmp_path: Path) -> None:
    p = write(tmp_path / "a.json", b"{}")
    p.chmod(0)
    (item,) = list(iter_blobs(LocalSource([tmp_path])))
    assert isinstance(item, BadItem) and "Permission denied" in item.reason


def test_symlink_loops_are_walked_once(tmp_path: Path) -> None:
    write(tmp_path / "d" / "a.json", b"{}")
    os.symlink(tmp_path / "d", tmp_path / "d" / "loop")
    assert [b.name for b in LocalSource([tmp_path]).blobs()] == [str(tmp_path / "d" / "a.json")]


def test_local_source_is_a_source() -> None:
    assert isinstance(LocalSource([SEED]), Source)


def test_iter_local_records_over_the_seed_directory() -> None:
    items = [i for i in iter_local_records([SEED]) if isinstance(i, Record)]
    assert len(items) == len(list(iter_local_records([SEED]))) == 13  # 12 in the log file + 1 EventBridge event; the .md and .yaml are skipped
    assert items[-1].event_id == "6e7f8091-a2b3-4c4d-8e5f-0a1b2c3d4e14"


def test_iter_local_records_mixes_records_and_problems(tmp_path: Path) -> None:
    tree(tmp_path)
    write(tmp_path / "b" / "3.json.gz", b"\x1f\x8b\x08\x00broken")
    items = list(iter_local_records([tmp_path]))
    assert [i.event_id for i in items if isinstance(i, Record)] == ["id-1", "id-3", "id-2", "id-4", "id-5", "id-6"]
    (b,) = [i for i in items if isinstance(i, BadItem)]
    assert b.origin.endswith("b/3.json.gz") and "gzip" in b.reason
