"""`ctbridge run`: follow a directory into a running Falco, checkpointing on the plugin's ACKs.

The sidecar is tests/falco_standin.py: the real plugin, the real rules, Falco's engine and
http_output stood in for (real Falco: tests/integration/test_replay_falco.py).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from falco_standin import StandInFalco, free_port

from bridge.deliver.checkpoints import Checkpoints

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "samples" / "seed"
EXPECTED = yaml.safe_load((SEED / "expected_alerts.yaml").read_text(encoding="utf-8"))
LOG_FILE = EXPECTED["inputs"]["cloudtrail"]
LOG_RULES = sorted(a["rule"] for a in EXPECTED["alerts"] if a["input"] == "cloudtrail")


class Sidecar:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sock = tmp / "ingest.sock"
        self.port = free_port()
        self.falco = StandInFalco(self.sock, f"http://127.0.0.1:{self.port}/")
        self.falco.start()
        self.inbox = tmp / "inbox"
        self.inbox.mkdir()
        self.state = tmp / "state.db"

    def argv(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "bridge", "run", "--watch", str(self.inbox), "--falco-socket",
                str(self.sock), "--listen", f"127.0.0.1:{self.port}", "--state", str(self.state),
                "--settle", "0", "--quiet", "0.5", *extra]

    def run_once(self) -> tuple[list[dict[str, object]], int]:
        """One `run --once`; returns the alerts printed and how many records reached the plugin."""
        before = len(self.falco.events)
        res = subprocess.run(self.argv("--once"), cwd=REPO, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        assert self.falco.error is None, self.falco.error
        return [json.loads(line) for line in res.stdout.splitlines()], len(self.falco.events) - before


@pytest.fixture
def sidecar(plugin_built: None, tmp_path: Path) -> Iterator[Sidecar]:
    s = Sidecar(tmp_path)
    yield s
    s.falco.close()


def test_each_file_goes_to_falco_once_across_runs(sidecar: Sidecar) -> None:
    shutil.copy(SEED / LOG_FILE, sidecar.inbox / LOG_FILE)
    alerts, sent = sidecar.run_once()
    assert sent == 12
    assert sorted(a["rule"] for a in alerts) == LOG_RULES

    alerts, sent = sidecar.run_once()  # nothing new: nothing sent again, no alert repeated
    assert (alerts, sent) == ([], 0)

    shutil.copy(SEED / "eventbridge.jsonl", sidecar.inbox / "eventbridge.jsonl")
    alerts, sent = sidecar.run_once()
    assert sent == 1
    assert [a["rule"] for a in alerts] == ["S3 Bucket ACL Grants Public Access"]

    cp = Checkpoints(sidecar.state)
    assert cp.complete_names() == {str(sidecar.inbox / LOG_FILE), str(sidecar.inbox / "eventbridge.jsonl")}


def test_a_partly_delivered_file_resumes_after_its_checkpoint(sidecar: Sidecar) -> None:
    target = sidecar.inbox / LOG_FILE
    shutil.copy(SEED / LOG_FILE, target)
    Checkpoints(sidecar.state).advance(str(target), 5)  # as if the bridge died after 5 ACKed records
    alerts, sent = sidecar.run_once()
    assert sent == 7
    ids = [json.loads(p)["eventID"] for p in sidecar.falco.events]
    with_ids = {a["event_id"] for a in EXPECTED["alerts"] if a["input"] == "cloudtrail"}
    assert {a["output_fields"]["ct.id"] for a in alerts} == with_ids & set(ids)  # type: ignore[index]
    assert Checkpoints(sidecar.state).position(str(target)) == (12, True)


def test_bad_file_is_quarantined_once_and_marked_done(sidecar: Sidecar, tmp_path: Path) -> None:
    (sidecar.inbox / "broken.json.gz").write_bytes(b"\x1f\x8b\x08\x00not gzip")
    quarantine = tmp_path / "q"
    res = subprocess.run(sidecar.argv("--once", "--quarantine", str(quarantine)), cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "broken.json.gz" in res.stderr
    assert len(list(quarantine.glob("*.reason.json"))) == 1
    assert Checkpoints(sidecar.state).position(str(sidecar.inbox / "broken.json.gz"))[1] is True


def test_follows_new_files_until_sigterm(sidecar: Sidecar, tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    proc = subprocess.Popen(sidecar.argv("--poll", "0.2", "--out", str(out)), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        shutil.copy(SEED / "eventbridge.jsonl", sidecar.inbox / "later.jsonl")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (out.exists() and out.read_text().strip()):
            time.sleep(0.1)
        assert out.exists() and "S3 Bucket ACL Grants Public Access" in out.read_text()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert Checkpoints(sidecar.state).position(str(sidecar.inbox / "later.jsonl")) == (1, True)
