"""`ctbridge replay` enriches records before delivery: a secrets-harvesting burst raises the
counter rule in a real Falco, and does not with --enrich off."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.cli import main

REPO = Path(__file__).resolve().parents[2]


def harvest(path: Path) -> None:
    records = []
    for i in range(20):
        records.append({
            "eventVersion": "1.09", "eventTime": f"2026-03-02T10:00:{i:02d}Z", "eventSource": "secretsmanager.amazonaws.com",
            "eventName": "GetSecretValue", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.23",
            "userAgent": "aws-cli/2.15.30", "requestParameters": {"secretId": f"prod/s{i}"}, "responseElements": None,
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/svc", "accountId": "111122223333",
                             "userName": "svc", "principalId": "AIDAX"},
            "eventID": f"00000000-0000-4000-8000-{i:012d}", "eventType": "AwsApiCall", "readOnly": True,
            "recipientAccountId": "111122223333",
        })
    path.write_text(json.dumps({"Records": records}))


@pytest.fixture
def falco_binary() -> str:
    binary = os.environ.get("FALCO_BINARY") or shutil.which("falco")
    if not binary or not shutil.which(binary):
        pytest.skip("no Falco: set FALCO_BINARY or put `falco` on PATH")
    if not (REPO / "build" / "plugin" / "libctbridge.so").is_file():
        pytest.skip("plugin not built (make plugin)")
    return str(shutil.which(binary))


def replay(falco_binary: str, src: Path, out: Path, *extra: str) -> list[dict[str, object]]:
    res = subprocess.run(
        [sys.executable, "-m", "bridge", "replay", str(src), "--falco-binary", falco_binary, "--out", str(out),
         "--read-workers", "1", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def test_replay_enriches_by_default_and_can_turn_it_off(falco_binary: str, tmp_path: Path) -> None:
    src = tmp_path / "harvest.json"
    harvest(src)
    on = replay(falco_binary, src, tmp_path / "on.jsonl")
    hits = [a for a in on if a["rule"] == "Secrets Manager Secrets Harvested"]
    assert len(hits) == 1  # once per burst: the 15th read
    assert hits[0]["output_fields"]["ctb.count[secret_reads]"] == 15
    off = replay(falco_binary, src, tmp_path / "off.jsonl", "--enrich", "off")
    assert not [a for a in off if a["rule"] == "Secrets Manager Secrets Harvested"]


def test_enrich_state_file_carries_over_runs(falco_binary: str, tmp_path: Path) -> None:
    src = tmp_path / "harvest.json"
    harvest(src)
    state = tmp_path / "enrich.db"
    replay(falco_binary, src, tmp_path / "first.jsonl", "--enrich-state", str(state))
    assert state.is_file()
    # the same records again: the counter goes on from 20, so 15 is never reached again
    again = replay(falco_binary, src, tmp_path / "second.jsonl", "--enrich-state", str(state))
    assert not [a for a in again if a["rule"] == "Secrets Manager Secrets Harvested"]


def test_bad_enrich_config_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "e.yaml"
    bad.write_text("counters: [{name: x, match: {errors: maybe}}]")
    src = tmp_path / "harvest.json"
    harvest(src)
    assert main(["replay", str(src), "--enrich", str(bad), "--falco-socket", str(tmp_path / "none.sock")]) == 2
