"""aws_sqs against moto in server mode."""

from __future__ import annotations

import boto3
import orjson
import pytest
from sinks.alerts import cloud, host, make_sink

from bridge.route.ident import alert_id
from bridge.sinks._base import Permanent


def test_batch_lands_in_the_queue(aws: str) -> None:
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    q = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    sink = make_sink({"name": "q", "type": "aws_sqs", "queue_url": q, "endpoint_url": aws, "region": "us-east-1"})
    sink.send([cloud(1), host(2)])
    msgs = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    got = {orjson.loads(m["Body"])["id"]: m["MessageAttributes"]["rule"]["StringValue"] for m in msgs}
    assert got == {alert_id(cloud(1)): "Delete Bucket Encryption", alert_id(host(2)): "Terminal shell in container"}


def test_missing_queue_is_permanent(aws: str) -> None:
    sink = make_sink({"name": "q", "type": "aws_sqs", "queue_url": f"{aws}/123456789012/nope",
                      "endpoint_url": aws, "region": "us-east-1"})
    with pytest.raises(Permanent):
        sink.send([cloud(1)])


def test_assume_role(aws: str) -> None:
    iam = boto3.client("iam", endpoint_url=aws, region_name="us-east-1")
    role = iam.create_role(RoleName="ctbridge-sender", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    q = sqs.create_queue(QueueName="assumed")["QueueUrl"]
    sink = make_sink({"name": "q", "type": "aws_sqs", "queue_url": q, "endpoint_url": aws, "region": "us-east-1",
                      "role_arn": role, "external_id": "ext-id"})
    sink.send([cloud(1)])
    creds = sink.client._request_signer._credentials.get_frozen_credentials()  # type: ignore[attr-defined]
    assert creds.access_key != "testing"  # signed with the assumed role's keys, not the environment's
    assert len(sqs.receive_message(QueueUrl=q)["Messages"]) == 1


def test_large_alerts_are_split_under_the_batch_size_limit(aws: str) -> None:
    from bridge.sinks._aws import chunks

    assert chunks([100, 100, 100], 250, 10) == [(0, 2), (2, 3)]
    assert chunks([300, 10, 10], 250, 10) == [(0, 1), (1, 3)]  # an oversized entry goes alone
    assert chunks([1] * 25, 10_000, 10) == [(0, 10), (10, 20), (20, 25)]
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    q = sqs.create_queue(QueueName="big")["QueueUrl"]
    sink = make_sink({"name": "q", "type": "aws_sqs", "queue_url": q, "endpoint_url": aws, "region": "us-east-1"})
    big = [cloud(i, output="x" * 60_000) for i in range(10)]  # 600 KB: over SendMessageBatch's 256 KiB
    sink.send(big)
    got: set[str] = set()
    for _ in range(10):
        for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10).get("Messages", []):
            got.add(orjson.loads(m["Body"])["id"])
            sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
    assert got == {alert_id(a) for a in big}


def test_a_chunk_failing_as_a_whole_fails_only_it_and_what_follows() -> None:
    from bridge.sinks._aws import send_chunked
    from bridge.sinks._base import PartialFailure, Retryable

    calls: list[tuple[int, int]] = []

    def send(start: int, end: int) -> list[tuple[int, str, bool]]:
        calls.append((start, end))
        if start == 2:
            raise Retryable("throttled")
        return [(1, "bad", False)] if start == 0 else []

    with pytest.raises(PartialFailure) as e:
        send_chunked([100] * 5, 250, 10, send)
    assert calls == [(0, 2), (2, 4)]  # stops at the failing chunk
    assert e.value.permanent == {1: "bad"} and sorted(e.value.retryable) == [2, 3, 4]
