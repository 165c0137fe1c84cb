"""The daemon as a whole: dedup persisted across restarts, metrics and readiness, `check` and
`run --config` from the command line with environment overrides."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import yaml
from ct import PluginFalco, Running, daemon_config, free_port, key_for, log_file, record, run_daemon, wait_for

REPO = Path(__file__).resolve().parents[2]
NOW = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)
A1 = "111111111111"


def _bucket(endpoint: str, name: str = "trail") -> object:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=name)
    return s3


def test_dedup_window_survives_a_restart(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    s3 = _bucket(aws)
    t = NOW - datetime.timedelta(minutes=30)
    s3.put_object(Bucket="trail", Key=key_for(A1, "us-east-1", t, "A"),  # type: ignore[attr-defined]
                  Body=log_file([record("a1"), record("a2")]))
    src = {"type": "s3", "bucket": "trail", "endpoint_url": aws, "since": "2h", "once": True}
    cfg = daemon_config(falco.sock, tmp_path / "s.db", [src])
    run_daemon(cfg)
    # CloudTrail wrote a2 a second time, into another file, after the bridge restarted.
    s3.put_object(Bucket="trail", Key=key_for(A1, "us-east-1", t, "B"),  # type: ignore[attr-defined]
                  Body=log_file([record("a2"), record("b1")]))
    report = run_daemon(cfg)
    assert falco.ids() == ["a1", "a2", "b1"]
    assert report.duplicates == 1


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode()


def test_metrics_and_readiness(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    s3 = _bucket(aws)
    s3.put_object(Bucket="trail", Key=key_for(A1, "us-east-1", NOW - datetime.timedelta(minutes=5), "M"),  # type: ignore[attr-defined]
                  Body=log_file([record("m1"), record("m1"), record("m2")]))
    port = free_port()
    src = {"type": "s3", "name": "metrics-trail", "bucket": "trail", "endpoint_url": aws, "since": "1h",
           "poll_interval": 0.5}
    d = Running(daemon_config(falco.sock, tmp_path / "s.db", [src], ops={"listen": f"127.0.0.1:{port}"},
                              exit_when_idle=False))
    try:
        assert wait_for(lambda: len(falco.ids()) == 2)
        assert wait_for(lambda: _get(f"http://127.0.0.1:{port}/readyz")[0] == 200)
        status, body = _get(f"http://127.0.0.1:{port}/readyz")
        assert "ok plugin_socket" in body and "ok source metrics-trail" in body
        assert wait_for(lambda: 'ctbridge_source_records_acked_total{source="metrics-trail"} 2.0'
                        in _get(f"http://127.0.0.1:{port}/metrics")[1])
        metrics = _get(f"http://127.0.0.1:{port}/metrics")[1]
        assert 'ctbridge_source_records_deduplicated_total{source="metrics-trail"} 1.0' in metrics
        assert 'ctbridge_source_records_read_total{source="metrics-trail"} 3.0' in metrics
        assert 'ctbridge_source_lag_seconds{source="metrics-trail"}' in metrics
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        d.stop()


def _env(aws: str) -> dict[str, str]:
    from aws import FAKE_CREDENTIALS

    return {**os.environ, **FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": aws}


def test_check_cli(aws: str, tmp_path: Path) -> None:
    _bucket(aws)
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    url = sqs.create_queue(QueueName="ct")["QueueUrl"]
    conf = tmp_path / "ctbridge.yaml"
    conf.write_text(yaml.safe_dump({
        "falco": {"socket": str(tmp_path / "ingest.sock")},
        "sources": [{"type": "s3", "name": "trail", "bucket": "trail"},
                    {"type": "sqs", "name": "queue", "queue_url": url}],
        "routes": [{"match": "anything"}],  # another stage's section: accepted as given
    }))
    res = subprocess.run([sys.executable, "-m", "bridge", "check", "--config", str(conf)], cwd=REPO,
                         capture_output=True, text=True, env=_env(aws), timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ok   trail: s3://trail/AWSLogs/: listed" in res.stdout
    assert "ok   queue: " in res.stdout and "WITHOUT a redrive policy" in res.stdout
    # The environment overrides any key: a bucket that does not exist fails the check.
    env = {**_env(aws), "CTBRIDGE__SOURCES__0__BUCKET": "nope"}
    res = subprocess.run([sys.executable, "-m", "bridge", "check", "--config", str(conf)], cwd=REPO,
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 1 and "FAIL trail: s3://nope/AWSLogs/: cannot list: NoSuchBucket" in res.stdout
    env = {**_env(aws), "CTBRIDGE__SOURCES__1__MAX_MESSAGES": "50"}
    res = subprocess.run([sys.executable, "-m", "bridge", "check", "--config", str(conf)], cwd=REPO,
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2
    assert "sources[1].max_messages (env CTBRIDGE__SOURCES__1__MAX_MESSAGES): must be 1..10, got 50" in res.stderr


def test_run_config_cli(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    s3 = _bucket(aws)
    s3.put_object(Bucket="trail", Key=key_for(A1, "eu-west-1", NOW - datetime.timedelta(minutes=5), "C"),  # type: ignore[attr-defined]
                  Body=log_file([record("r1"), record("r2")]))
    conf = tmp_path / "ctbridge.yaml"
    conf.write_text(yaml.safe_dump({
        "falco": {"socket": "/nonexistent.sock", "listen": f"127.0.0.1:{free_port()}", "quiet": 0},
        "state": {"path": str(tmp_path / "state.db")},
        "sources": [{"type": "s3", "bucket": "trail", "since": "1h", "once": True}],
        "exit_when_idle": True,
    }))
    env = {**_env(aws), "CTBRIDGE__FALCO__SOCKET": str(falco.sock)}
    res = subprocess.run([sys.executable, "-m", "bridge", "run", "--config", str(conf)], cwd=REPO,
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert falco.ids() == ["r1", "r2"]
    assert "delivered 2 records (2 ACKed" in res.stderr


def test_journal_rows_match_the_batches_the_plugin_holds(aws: str, tmp_path: Path) -> None:
    """Each batch's journal row (written before its bytes go out) names exactly its records and
    the file position at its end, on the packed path where send_packed seals batches inside one
    call; rows go once the ACKs are committed. (The SIGKILL tests in tests/faults check the
    restart end to end.)"""
    import sqlite3
    from array import array

    from bridge.deliver.packed import record_key

    s3 = _bucket(aws)
    recs = [record(f"j{i}") for i in range(30)]  # 3 batches of 10: all fit in the socket buffer
    key = key_for(A1, "us-east-1", NOW - datetime.timedelta(minutes=30), "J")
    s3.put_object(Bucket="trail", Key=key, Body=log_file(recs))  # type: ignore[attr-defined]
    falco = PluginFalco(tmp_path / "ingest.sock")
    falco.start()
    src = {"type": "s3", "bucket": "trail", "endpoint_url": aws, "since": "2h", "once": True}
    d = Running(daemon_config(falco.sock, tmp_path / "s.db", [src], enrich={"enabled": False},
                              falco={"batch_events": 10}))
    try:
        deadline = time.monotonic() + 30
        while not d.connected() and time.monotonic() < deadline:
            time.sleep(0.001)
        falco.running.clear()  # Falco takes nothing: no ACK, every row stays
        assert not falco.ids()

        def rows() -> list[tuple[int, list[int], dict[str, list[object]]]]:
            db = sqlite3.connect(tmp_path / "s.db", timeout=10)
            try:
                got = db.execute("SELECT seq, hashes, positions FROM journal ORDER BY sealed").fetchall()
            finally:
                db.close()
            out = []
            for seq, blob, pos in got:
                a = array("q")
                a.frombytes(blob)
                out.append((seq, a.tolist(), json.loads(pos)))
            return out

        assert wait_for(lambda: len(rows()) == 3, 30), rows()
        name = f"s3://trail/{key}"
        want = [record_key(r["eventID"]) for r in recs]
        assert [(seq, hashes, pos) for seq, hashes, pos in rows()] == [
            (1, want[:10], {name: [10, False]}), (2, want[10:20], {name: [20, False]}),
            (3, want[20:], {name: [30, False]})]  # sealed full before the file's end was marked
        falco.running.set()
        assert wait_for(lambda: not d.thread.is_alive(), 30)
    finally:
        falco.running.set()
        report = d.stop()
        falco.close()
    assert report.records == 30 and rows() == []
