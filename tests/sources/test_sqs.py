"""SQS source against moto (server mode, over HTTP) into the real plugin: every message shape,
delete only after ACK, bad messages quarantined and left for the redrive policy."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from ct import PluginFalco, Running, daemon_config, key_for, log_file, record, run_until, wait_for

from bridge.normalize.notifications import Notice, Unknown, read_message

NOW = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)
A1 = "111111111111"


def _clients(endpoint: str) -> tuple[Any, Any]:
    kw: dict[str, Any] = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    return boto3.client("s3", **kw), boto3.client("sqs", **kw)


def make_queue(sqs: Any) -> str:
    dlq = sqs.create_queue(QueueName="ct-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return str(sqs.create_queue(QueueName="ct", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})["QueueUrl"])


def s3_event(bucket: str, *keys: str) -> dict[str, Any]:
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventTime": "2026-11-20T10:00:00.000Z",
                         "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": bucket}, "object": {"key": k.replace(" ", "+"), "size": 1}}}
                        for k in keys]}


def sns(message: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:1:t",
            "Message": json.dumps(message)}


def eventbridge(kind: str, rec: dict[str, Any]) -> dict[str, Any]:
    return {"version": "0", "id": "e", "detail-type": kind, "source": "aws.s3", "account": A1,
            "time": rec["eventTime"], "region": "us-east-1", "resources": [], "detail": rec}


def sqs_source(endpoint: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "sqs", "name": "q", "queue_url": url, "endpoint_url": endpoint, "region": "us-east-1",
            "wait_time": 1, "visibility_timeout": 30, **extra}


def _count(sqs: Any, url: str) -> int:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def test_every_message_shape(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    s3, sqs = _clients(aws)
    s3.create_bucket(Bucket="trail")
    url = make_queue(sqs)
    t = NOW - datetime.timedelta(minutes=20)
    keys = {}
    for n in range(4):
        keys[n] = key_for(A1, "us-east-1", t, f"F{n}")
        s3.put_object(Bucket="trail", Key=keys[n], Body=log_file([record(f"f{n}-{i}") for i in range(3)]))
    digest = key_for(A1, "us-east-1", t, "D", kind="CloudTrail-Digest")
    s3.put_object(Bucket="trail", Key=digest, Body=b"{}")
    bodies = [
        s3_event("trail", keys[0], keys[1]),  # raw S3 notification, two files
        sns(s3_event("trail", keys[2])),  # S3 notification through SNS
        sns({"s3Bucket": "trail", "s3ObjectKey": [keys[3]]}),  # CloudTrail's own SNS notification
        eventbridge("AWS API Call via CloudTrail", record("eb-api")),
        eventbridge("AWS Console Sign In via CloudTrail", record("eb-signin", eventName="ConsoleLogin")),
        eventbridge("AWS Service Event via CloudTrail", record("eb-service", eventType="AwsServiceEvent")),
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "trail"},  # ignored, counted, deleted
        s3_event("trail", digest),  # digests are skipped
        s3_event("trail", keys[0]),  # a repeat notification: its records are dropped by dedup
    ]
    for b in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(b))
    sqs.send_message(QueueUrl=url, MessageBody="this is not json")
    q = tmp_path / "q"
    want = sorted([f"f{n}-{i}" for n in range(4) for i in range(3)] + ["eb-api", "eb-signin", "eb-service"])
    cfg = daemon_config(falco.sock, tmp_path / "s.db", [sqs_source(aws, url)], quarantine=q)
    report, met = run_until(cfg, lambda: len(falco.ids()) >= len(want) and _count(sqs, url) <= 1)
    assert met, (falco.ids(), _count(sqs, url))
    assert sorted(falco.ids()) == want
    assert report.duplicates == 3
    # Only the message nobody understands is left, for the redrive policy; it is quarantined with the reason.
    assert _count(sqs, url) == 1
    reasons = "\n".join(p.read_text() for p in q.glob("*.reason.json"))
    assert "body is not JSON" in reasons and "redrive" in reasons


def test_message_deleted_only_after_ack(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    s3, sqs = _clients(aws)
    s3.create_bucket(Bucket="trail")
    url = make_queue(sqs)
    k = key_for(A1, "us-east-1", NOW, "X")
    s3.put_object(Bucket="trail", Key=k, Body=log_file([record("x1"), record("x2")]))
    d = Running(daemon_config(falco.sock, tmp_path / "s.db", [sqs_source(aws, url, visibility_timeout=10)]))
    try:
        assert wait_for(d.connected)
        falco.running.clear()  # Falco stalls: the records reach the socket but nobody takes them
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(s3_event("trail", k)))
        assert wait_for(lambda: d.daemon.report.records == 2)
        time.sleep(12)  # longer than the visibility timeout: it must have been extended, not redelivered
        assert _count(sqs, url) == 1 and falco.ids() == []
        falco.running.set()
        assert wait_for(lambda: _count(sqs, url) == 0)
        assert falco.ids() == ["x1", "x2"]
    finally:
        report = d.stop()
    assert report.works_done == 1 and report.duplicates == 0


def test_shapes_table() -> None:
    assert isinstance(read_message("{"), Unknown)
    assert isinstance(read_message("[1]"), Unknown)
    n = read_message(json.dumps(s3_event("b", "AWSLogs/a b.json.gz")))
    assert isinstance(n, Notice) and n.files == [("b", "AWSLogs/a b.json.gz")]
    n = read_message(json.dumps(sns({"s3Bucket": "b", "s3ObjectKey": ["k1", "k2"]})))
    assert isinstance(n, Notice) and n.files == [("b", "k1"), ("b", "k2")] and n.shape.startswith("sns ")
    n = read_message(json.dumps({"Event": "s3:TestEvent"}))
    assert isinstance(n, Notice) and n.test
    n = read_message(json.dumps({"source": "aws.s3", "detail-type": "Object Created",
                                 "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}}))
    assert isinstance(n, Notice) and n.files == [("b", "k")]
    u = read_message(json.dumps({"hello": "world"}))
    assert isinstance(u, Unknown) and "unknown message shape" in u.reason


def test_deletes_share_batches(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    """Messages ACKed one after another (they arrive one by one) are deleted together
    (DeleteMessageBatch of up to 10), not one request each; every one is deleted."""
    s3, sqs = _clients(aws)
    s3.create_bucket(Bucket="trail")
    url = make_queue(sqs)
    t = NOW - datetime.timedelta(minutes=20)
    keys = [key_for(A1, "us-east-1", t, f"B{n}") for n in range(20)]
    for n, key in enumerate(keys):
        s3.put_object(Bucket="trail", Key=key, Body=log_file([record(f"b{n}-{i}") for i in range(2)]))
    batches: list[int] = []  # entries per DeleteMessageBatch the source made
    real = boto3.Session.client

    def client(session: Any, *args: Any, **kwargs: Any) -> Any:
        c = real(session, *args, **kwargs)
        if c.meta.service_model.service_name == "sqs":
            c.meta.events.register("before-parameter-build.sqs.DeleteMessageBatch",
                                   lambda params, **_: batches.append(len(params["Entries"])))
        return c

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(boto3.Session, "client", client)
        d = Running(daemon_config(falco.sock, tmp_path / "s.db", [sqs_source(aws, url)]))
        try:
            assert wait_for(d.connected)
            for key in keys:
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps(s3_event("trail", key)))
                time.sleep(0.03)
            assert wait_for(lambda: _count(sqs, url) == 0)
        finally:
            report = d.stop()
    assert len(falco.ids()) == 40 and report.works_done == 20
    assert sum(batches) == 20 and len(batches) <= 10, batches
