"""aws_sns against moto in server mode: messages land in an SQS queue subscribed to the topic."""

from __future__ import annotations

import boto3
import orjson
from sinks.alerts import cloud, make_sink

from bridge.route.ident import alert_id


def test_publish_reaches_a_subscribed_queue(aws: str) -> None:
    sns = boto3.client("sns", endpoint_url=aws, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    topic = sns.create_topic(Name="falco")["TopicArn"]
    q = sqs.create_queue(QueueName="sub")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    sink = make_sink({"name": "sns", "type": "aws_sns", "topic_arn": topic, "endpoint_url": aws, "region": "us-east-1"})
    sink.send([cloud(1), cloud(2)])
    msgs = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    bodies = sorted((orjson.loads(m["Body"]) for m in msgs), key=lambda b: b["time"])
    assert [b["id"] for b in bodies] == [alert_id(cloud(1)), alert_id(cloud(2))]
    assert bodies[0]["output_fields"]["s3.bucket"] == "jd-1603127991"
    entry = sink.build([cloud(1)])[0]
    assert entry["MessageAttributes"]["priority"]["StringValue"] == "Critical"
    assert "MessageDeduplicationId" not in entry


def test_fifo_topic_gets_dedup_and_group_ids(aws: str) -> None:
    sns = boto3.client("sns", endpoint_url=aws, region_name="us-east-1")
    topic = sns.create_topic(Name="falco.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    sink = make_sink({"name": "sns", "type": "aws_sns", "topic_arn": topic, "endpoint_url": aws, "region": "us-east-1"})
    (entry,) = sink.build([cloud(1)])
    assert entry["MessageDeduplicationId"] == alert_id(cloud(1)) and entry["MessageGroupId"] == "Delete Bucket Encryption"
    sink.send([cloud(1)])


def test_subject_is_made_acceptable_to_sns() -> None:
    from bridge.sinks.aws_sns import _subject

    assert _subject("Critical: Règle\nwith\tcontrol " + "x" * 200) == ("Critical: R?gle with control " + "x" * 200)[:99]
    assert _subject("\n") == "Falco alert"
