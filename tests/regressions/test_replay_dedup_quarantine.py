"""Regression: `ctbridge replay` drops repeated eventIDs (within a file and across files) and
quarantines a record the plugin would reject (over its maxRecordBytes), end to end into the real
plugin. Each assertion here failed with the corresponding one-line bug planted (docs/reliability.md):
dedup switched off in replay's fast path or its enrich path, or the quarantine call dropped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from held_falco import REPO, HeldFalco, free_port, record, write_log

pytestmark = pytest.mark.timeout(180)


def _inputs(tmp: Path) -> Path:
    d = tmp / "in"
    d.mkdir()
    # a.json: n-1..n-10, n-3 and n-5 repeated inside the file, and n-99 (record #7, counting from 0)
    # too large for the plugin.
    a = [record(i) for i in range(1, 11)]
    a[6:6] = [record(3), record(99, pad=1500), record(5)]
    write_log(d / "a.json", a)
    # b.jsonl (another file, another format): n-5..n-15, so n-5..n-10 repeat across files.
    (d / "b.jsonl").write_text("".join(json.dumps(record(i)) + "\n" for i in range(5, 16)), encoding="utf-8")
    return d


@pytest.mark.parametrize("enrich", ["off", "default"], ids=["fast-path", "enrich-path"])
def test_replay_sends_each_event_id_once_and_quarantines_the_oversized_record(
        held_falco: tuple[HeldFalco, Path], tmp_path: Path, enrich: str) -> None:
    falco, sock = held_falco
    quarantine = tmp_path / "q"
    res = subprocess.run(
        [sys.executable, "-m", "bridge", "replay", str(_inputs(tmp_path)), "--falco-socket", str(sock),
         "--listen", f"127.0.0.1:{free_port()}", "--end-stream", "--quiet", "0", "--no-progress",
         "--enrich", enrich, "--quarantine", str(quarantine)],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    ids = falco.event_ids()
    # Every eventID reached the plugin exactly once, in input order; the oversized one never.
    assert ids == [f"n-{i}" for i in range(1, 16)], ids
    assert "replayed 15 records (8 duplicates skipped, 1 quarantined)" in res.stderr, res.stderr
    # The oversized record is kept, bytes and reason, naming where it came from and why.
    reasons = [json.loads(p.read_text()) for p in quarantine.glob("*.reason.json")]
    assert len(reasons) == 1, reasons
    assert reasons[0]["origin"].endswith("a.json#7"), reasons[0]
    assert "the plugin accepts at most 1024" in reasons[0]["reason"], reasons[0]
    raw = [p.read_bytes() for p in quarantine.glob("*.raw")]
    assert len(raw) == 1 and json.loads(raw[0])["eventID"] == "n-99"
