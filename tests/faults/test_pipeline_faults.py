"""Fault matrix rows across stages for `ctbridge run --watch` (docs/reliability.md): the
checkpoint database locked, damaged, or on a full disk, and records whose clocks disagree with
the host's. The real plugin takes the records (tests/held_falco.py); each case checks exactly
what reached it, what the bridge said, and that a restart resends only what was not ACKed."""

from __future__ import annotations

import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from held_falco import REPO, HeldFalco, free_port, record, write_log
from plugin_abi import default_library

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def falco(tmp_path: Path) -> Iterator[HeldFalco]:
    if not Path(default_library()).is_file():
        pytest.skip(f"plugin library {default_library()} is not built (run `make plugin`)")
    f = HeldFalco(tmp_path / "ingest.sock", {"maxBatchEvents": 4, "idleTimeoutMs": 10})
    yield f
    f.close()


def _inbox(tmp: Path, files: int, per_file: int) -> list[str]:
    inbox = tmp / "inbox"
    inbox.mkdir()
    for n in range(files):
        write_log(inbox / f"f{n:03d}.json", [record(n * per_file + i) for i in range(per_file)])
    return [f"n-{i}" for i in range(files * per_file)]


def _run(tmp: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "bridge", "run", "--watch", str(tmp / "inbox"), "--falco-socket",
            str(tmp / "ingest.sock"), "--listen", f"127.0.0.1:{free_port()}", "--state", str(tmp / "state.db"),
            "--settle", "0", "--quiet", "0", "--once"]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload]


def _settled(falco: HeldFalco, n: int) -> list[str]:
    deadline = time.monotonic() + 10
    while len(set(falco.event_ids())) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    return falco.event_ids()


def test_locked_checkpoint_db_is_a_clear_error_then_a_clean_start(falco: HeldFalco, tmp_path: Path) -> None:
    ids = _inbox(tmp_path, 5, 10)
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        res = _run(tmp_path)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert res.returncode == 2, res.stderr
    assert "checkpoint database" in res.stderr and "database is locked" in res.stderr
    assert "Traceback" not in res.stderr
    assert falco.taken() == 0  # nothing sent without a place to record it
    res = _run(tmp_path)
    assert res.returncode == 0, res.stderr
    assert _settled(falco, len(ids)) == ids


@pytest.mark.parametrize("damage", ["header", "pages"])
def test_damaged_checkpoint_db_stops_instead_of_starting_over(falco: HeldFalco, tmp_path: Path,
                                                             damage: str) -> None:
    ids = _inbox(tmp_path, 5, 10)
    assert _run(tmp_path).returncode == 0
    assert _settled(falco, len(ids)) == ids
    state = tmp_path / "state.db"
    for ext in ("-wal", "-shm"):
        Path(f"{state}{ext}").unlink(missing_ok=True)
    data = bytearray(state.read_bytes())
    start = 0 if damage == "header" else 100  # the whole file, or everything after the header
    data[start:] = b"\x5a" * (len(data) - start)
    state.write_bytes(bytes(data))
    before = state.read_bytes()
    res = _run(tmp_path)
    assert res.returncode == 2, res.stderr
    assert "checkpoint database" in res.stderr, res.stderr
    assert "not a database" in res.stderr or "malformed" in res.stderr, res.stderr
    assert falco.taken() == len(ids)  # nothing resent as if new: that would be silent duplication
    assert state.read_bytes() == before  # and the evidence is left as it was


def _full_disk_at(limit: int) -> None:
    """In the child: files may not grow past `limit` bytes (EFBIG, as ENOSPC would fail a write)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_disk_full_for_checkpoints_loses_nothing(falco: HeldFalco, tmp_path: Path,
                                                record_property: Callable[[str, object], None]) -> None:
    ids = _inbox(tmp_path, 30, 10)
    # 64 KiB: room for the database, not for the write-ahead log of 300 records' checkpoints.
    res = _run(tmp_path, preexec_fn=lambda: _full_disk_at(65536))
    assert res.returncode != 0, "the run must fail once its checkpoints cannot be written"
    first = falco.taken()
    assert 0 < first < len(ids), first
    res = _run(tmp_path)  # room again: a restart
    assert res.returncode == 0, res.stderr
    got = Counter(_settled(falco, len(ids)))
    assert set(got) == set(ids)  # nothing lost
    # Only records ACKed after the last checkpoint that could be written are sent again.
    assert sum(n - 1 for n in got.values()) <= first
    record_property("records", len(ids))
    record_property("taken_before_failure", first)
    record_property("repeats_after_restart", sum(n - 1 for n in got.values()))


def test_disk_full_for_checkpoints_is_a_clear_error(falco: HeldFalco, tmp_path: Path) -> None:
    _inbox(tmp_path, 30, 10)
    res = _run(tmp_path, preexec_fn=lambda: _full_disk_at(65536))
    assert res.returncode == 1
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "checkpoint database" in res.stderr


def test_clock_skew_records_keep_their_own_time(falco: HeldFalco, tmp_path: Path) -> None:
    """Records from the far past or future, or with offsets, are delivered with the timestamp they
    carry, whatever the host's clock says: nothing is dropped or reordered for being 'late'."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    times = {"n-0": ("1971-01-01T00:00:00Z", 31536000 * 10**9),
             "n-1": ("2099-12-31T23:59:59.999999999Z", 4102444799999999999),
             "n-2": ("2024-05-09T17:00:00+02:00", 1715266800 * 10**9),
             "n-3": ("2024-05-09T14:59:60Z", 1715266800 * 10**9)}  # a leap second
    recs = []
    for i, (eid, (text, _)) in enumerate(times.items()):
        r = record(i)
        r["eventTime"] = text
        recs.append(r)
    write_log(inbox / "skew.json", recs)
    assert _run(tmp_path).returncode == 0
    assert _settled(falco, 4) == list(times)
    assert falco.timestamps == [ns for _, ns in times.values()]
