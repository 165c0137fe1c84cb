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
