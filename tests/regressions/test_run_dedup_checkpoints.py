"""Regression: `ctbridge run --watch` end to end into the real plugin.

- Repeated eventIDs (within a file, across files) reach the plugin once and are counted; a record
  over the plugin's maxRecordBytes is quarantined with its reason.
- Checkpoints follow the plugin's ACKs: with Falco held (so the plugin holds its ACKs), SQLite is
  never ahead of what Falco took; after a SIGKILL the next run learns from the journal and the
  plugin's WELCOME what the plugin already holds, resends exactly the rest: none lost, none repeated.
Each of these failed with the corresponding one-line bug planted (docs/reliability.md).
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from held_falco import REPO, HeldFalco, free_port, record, write_log

pytestmark = pytest.mark.timeout(240)


def _argv(inbox: Path, sock: Path, state: Path, quarantine: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bridge", "run", "--watch", str(inbox), "--falco-socket", str(sock),
            "--listen", f"127.0.0.1:{free_port()}", "--state", str(state), "--settle", "0", "--quiet", "0",
            "--poll", "0.2", "--quarantine", str(quarantine), *extra]


def _position(state: Path, name: str) -> int:
    """Items of `name` committed in the checkpoint database (read as any other process would)."""
    if not state.exists():
        return 0
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=10)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "files" not in tables:
            return 0
        row = db.execute("SELECT done FROM files WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0
    finally:
        db.close()


def test_run_sends_each_event_id_once_and_quarantines_the_oversized_record(
        held_falco: tuple[HeldFalco, Path], tmp_path: Path) -> None:
    falco, sock = held_falco
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    a = [record(i) for i in range(1, 11)]
    a[6:6] = [record(3), record(99, pad=1500), record(5)]  # n-99 is item #8 of a.json (from 1)
    write_log(inbox / "a.json", a)
    write_log(inbox / "b.json", [record(i) for i in range(5, 16)])
    quarantine = tmp_path / "q"
    res = subprocess.run(_argv(inbox, sock, tmp_path / "state.db", quarantine, "--once"),
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    deadline = time.monotonic() + 10
    while falco.taken() < 15 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    assert falco.event_ids() == [f"n-{i}" for i in range(1, 16)]
    assert "delivered 15 records (8 duplicates skipped, 1 quarantined)" in res.stderr, res.stderr
    reasons = [json.loads(p.read_text()) for p in quarantine.glob("*.reason.json")]
    assert len(reasons) == 1 and "the plugin accepts at most 1024" in reasons[0]["reason"], reasons
    assert json.loads(next(quarantine.glob("*.raw")).read_bytes())["eventID"] == "n-99"
    # Both files are complete: a second run sends nothing again.
    res2 = subprocess.run(_argv(inbox, sock, tmp_path / "state.db", quarantine, "--once"),
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res2.returncode == 0, res2.stderr
    assert "delivered 0 records" in res2.stderr, res2.stderr
    assert falco.taken() == 15


def test_checkpoints_never_run_ahead_of_acks_and_a_restart_resends_exactly_the_rest(
        held_falco: tuple[HeldFalco, Path], tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    falco, sock = held_falco
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    total = 400
    write_log(inbox / "a.json", [record(i) for i in range(total)])
    name = str(inbox / "a.json")
    state = tmp_path / "state.db"
    falco.limit = 50  # Falco takes 50 records, then holds: the plugin ACKs at most those
    with open(tmp_path / "first.log", "wb") as first_log:
        proc = subprocess.Popen(_argv(inbox, sock, state, tmp_path / "q"), cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=first_log)
    try:
        deadline = time.monotonic() + 60
        while falco.taken() < 50 and time.monotonic() < deadline:
            time.sleep(0.02)
        held = falco.taken()  # one next_batch call may overshoot the limit by a few records
        assert 50 <= held < 60
        # The bridge now fills its window and blocks. Watch SQLite for a while: never ahead of Falco.
        seen = []
        for _ in range(40):
            seen.append(_position(state, name))
            time.sleep(0.025)
        assert falco.taken() == held
        assert max(seen) <= held, seen
        assert max(seen) > 0, "ACKed batches must be checkpointed while the file is still being sent"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    committed = _position(state, name)
    assert 0 < committed <= held
    # Falco goes on: the plugin delivers what it had received, the restarted bridge the rest.
    falco.limit = None
    res = subprocess.run(_argv(inbox, sock, state, tmp_path / "q", "--once"),
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    # The journal told the restart what the plugin had received beyond the checkpoint (at least
    # what Falco took); it resumed there and sent exactly the rest...
    resumed = re.search(r"resuming after (\d+) items", res.stderr)
    assert resumed is not None, res.stderr
    start = int(resumed.group(1))
    assert held <= start < total, (held, start)
    assert f"delivered {total - start} records (0 duplicates skipped, 0 quarantined)" in res.stderr, res.stderr
    assert _position(state, name) == total
    deadline = time.monotonic() + 10
    while len(falco.event_ids()) < total and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    # ...so every record reached Falco exactly once, in order: none lost, none repeated.
    assert falco.event_ids() == [f"n-{i}" for i in range(total)]
    # Figures for docs/reliability.md (pytest --junitxml keeps them).
    for key, value in (("records", total), ("taken_while_held", held), ("max_checkpoint_while_held", max(seen)),
                       ("checkpoint_at_kill", committed), ("resumed_at", start), ("resent_by_restart", total - start),
                       ("repeats_in_falco", len(falco.event_ids()) - total)):
        record_property(key, value)
