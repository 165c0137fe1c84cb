"""`ctbridge replay s3://...` and `cloudtrail-api://...` into a stand-in Falco (real plugin, real
rules), and the progress line."""

from __future__ import annotations

import datetime
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from aws import FAKE_CREDENTIALS
from ct import key_for, log_file, record

from bridge.commands._progress import Progress
from bridge.model import BadItem, Record
from bridge.normalize.quarantine import Quarantine
from bridge.sources.remote import Window, records

A1, A2 = "111111111111", "222222222222"
SEED = Path(__file__).parents[2] / "samples" / "seed"


def _trail(aws: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="trail")
    for account in (A1, A2):
        for region in ("us-east-1", "eu-west-1"):
            when = datetime.datetime(2026, 11, 20, 10, 5, tzinfo=datetime.UTC)
            recs = [record(f"{account}-{region}-{i}", f"2026-11-20T10:0{i}:00Z") for i in range(3)]
            s3.put_object(Bucket="trail", Key=key_for(account, region, when, "Q"), Body=log_file(recs))


def _ids(items: list[Record | BadItem]) -> list[str]:
    return [i.event_id or "" for i in items if isinstance(i, Record)]


def test_s3_url_with_window_accounts_and_regions(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws)
    _trail(aws)
    q = Quarantine(None)
    w = Window(since="2026-11-20T10:01:00Z", until="2026-11-20T10:02:00Z", accounts=[A2], regions=["eu-west-1"])
    assert _ids(list(records("s3://trail", w, q))) == [f"{A2}-eu-west-1-1"]
    # A prefix inside the layout: every file below it.
    inside = f"s3://trail/AWSLogs/o-abcdefghij/{A1}/CloudTrail/us-east-1/"
    w = Window(since="2026-11-20T00:00:00Z", until="2026-11-21T00:00:00Z")
    assert _ids(list(records(inside, w, q))) == [f"{A1}-us-east-1-{i}" for i in range(3)]


def test_replay_cli_from_s3_raises_the_alerts(aws: str, tmp_path: Path, plugin_built: None) -> None:
    from falco_standin import StandInFalco, free_port

    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="seed")
    name = next(SEED.glob("*.json.gz")).name  # 161134881107_CloudTrail_us-east-1_20201019T1730Z_...
    s3.put_object(Bucket="seed", Key=f"AWSLogs/161134881107/CloudTrail/us-east-1/2020/10/19/{name}",
                  Body=(SEED / name).read_bytes())
    sock, port = tmp_path / "ingest.sock", free_port()
    falco = StandInFalco(sock, f"http://127.0.0.1:{port}/")
    falco.start()
    try:
        res = subprocess.run(
            [sys.executable, "-m", "bridge", "replay", "s3://seed", "--since", "2020-10-19T00:00:00Z",
             "--until", "2020-10-20T00:00:00Z", "--falco-socket", str(sock), "--listen", f"127.0.0.1:{port}",
             "--end-stream", "--quiet", "0.5"],
            cwd=SEED.parents[1], capture_output=True, text=True, timeout=120,
            env={**os.environ, **FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": aws})
        falco.join(timeout=30)
    finally:
        falco.close()
    assert res.returncode == 0, res.stderr
    assert len(falco.events) == 12
    rules = sorted(json.loads(line)["rule"] for line in res.stdout.splitlines())
    want = yaml.safe_load((SEED / "expected_alerts.yaml").read_text())
    assert rules == sorted(a["rule"] for a in want["alerts"] if a["input"] == "cloudtrail")


def test_progress_line() -> None:
    out = io.StringIO()
    p = Progress(lambda: 3, stream=out, force=True)
    p.item(Record(b"{}", 0, "a.json#0"))
    p.item(Record(b"{}", 0, "a.json#1"))
    p.item(BadItem("b.json#0", "bad"))
    with p:
        pass
    assert "2 files, 0.0 MB, 2 records" in out.getvalue() and "1 quarantined, 3 alerts" in out.getvalue()
    quiet = io.StringIO()
    with Progress(lambda: 0, stream=quiet):  # not a terminal: silent
        pass
    assert quiet.getvalue() == ""
