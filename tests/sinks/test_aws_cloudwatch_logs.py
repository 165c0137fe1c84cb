"""aws_cloudwatch_logs against moto in server mode: group and stream created, events read back in order."""

from __future__ import annotations

import time

import boto3
import orjson
from sinks.alerts import cloud, host, make_sink

from bridge.route.ident import alert_id


def test_events_read_back(aws: str) -> None:
    s = make_sink({"name": "cwl", "type": "aws_cloudwatch_logs", "log_group": "/falco/alerts",
                   "log_stream": "a", "endpoint_url": aws, "region": "us-east-1"})
    s.send([cloud(1), host(2)])
    s.send([cloud(3)])  # second batch on the same stream (no sequence token needed or kept)
    logs = boto3.client("logs", endpoint_url=aws, region_name="us-east-1")
    events = logs.get_log_events(logGroupName="/falco/alerts", logStreamName="a", startFromHead=True)["events"]
    assert sorted(orjson.loads(e["message"])["id"] for e in events) == sorted(
        alert_id(a) for a in (cloud(1), host(2), cloud(3)))


def test_old_alert_times_are_replaced(aws: str) -> None:
    now = int(time.time() * 1000)
    s = make_sink({"name": "cwl", "type": "aws_cloudwatch_logs", "log_group": "g", "log_stream": "s",
                   "region": "us-east-1", "endpoint_url": aws})
    out = s.build([cloud(1), host(2)], now_ms=now)  # 2020 (too old for CloudWatch) and 2026-11-27
    assert out[0]["timestamp"] == now and all(e["timestamp"] <= now for e in out)
    s.send([cloud(1), host(2)])  # sent in time order, whatever the batch order
    logs = boto3.client("logs", endpoint_url=aws, region_name="us-east-1")
    events = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)["events"]
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
