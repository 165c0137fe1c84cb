"""aws_eventbridge against moto in server mode: events matched by a rule land in an SQS target."""

from __future__ import annotations

import boto3
import orjson
from sinks.alerts import cloud, host, make_sink

from bridge.route.ident import alert_id


def test_events_reach_an_sqs_target_with_detail_type_per_rule(aws: str) -> None:
    ev = boto3.client("events", endpoint_url=aws, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    ev.create_event_bus(Name="security")
    q = sqs.create_queue(QueueName="target")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    ev.put_rule(Name="bucket-encryption", EventBusName="security",
                EventPattern=orjson.dumps({"source": ["ctbridge.falco"],
                                           "detail-type": ["Delete Bucket Encryption"]}).decode())
    ev.put_targets(Rule="bucket-encryption", EventBusName="security", Targets=[{"Id": "q", "Arn": qarn}])
    sink = make_sink({"name": "bus", "type": "aws_eventbridge", "event_bus": "security",
                      "endpoint_url": aws, "region": "us-east-1"})
    sink.send([cloud(1), host(1)])  # only the CloudTrail rule's detail-type matches the EventBridge rule
    msgs = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10)["Messages"]
    assert len(msgs) == 1
    event = orjson.loads(msgs[0]["Body"])
    assert event["detail-type"] == "Delete Bucket Encryption" and event["source"] == "ctbridge.falco"
    assert event["detail"]["id"] == alert_id(cloud(1)) and event["detail"]["output_fields"]["ct.region"] == "us-east-1"
