"""cloudwatch_logs source against moto's FilterLogEvents, into the real plugin."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
from ct import PluginFalco, daemon_config, record, run_daemon


def test_log_group_read_once_then_from_checkpoint(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    logs = boto3.client("logs", endpoint_url=aws, region_name="us-east-1")
    logs.create_log_group(logGroupName="trail")
    logs.create_log_stream(logGroupName="trail", logStreamName="111111111111_CloudTrail_us-east-1")
    now = int(time.time() * 1000)

    def put(ids: list[str], at: int) -> None:
        logs.put_log_events(logGroupName="trail", logStreamName="111111111111_CloudTrail_us-east-1",
                            logEvents=[{"timestamp": at + i, "message": json.dumps(record(x))}
                                       for i, x in enumerate(ids)])

    put(["c1", "c2", "c3"], now - 60_000)
    logs.put_log_events(logGroupName="trail", logStreamName="111111111111_CloudTrail_us-east-1",
                        logEvents=[{"timestamp": now - 50_000, "message": "not a record"}])
    src = {"type": "cloudwatch_logs", "log_group": "trail", "endpoint_url": aws, "region": "us-east-1",
           "since": "1h", "once": True}
    cfg = daemon_config(falco.sock, tmp_path / "s.db", [src], quarantine=tmp_path / "q")
    report = run_daemon(cfg)
    assert falco.ids() == ["c1", "c2", "c3"] and report.quarantined == 1
    put(["c4"], now - 1000)
    report = run_daemon(cfg)  # resumes at the checkpoint: c1..c3 are not sent again
    assert falco.ids() == ["c1", "c2", "c3", "c4"]
