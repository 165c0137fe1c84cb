"""aws_firehose against moto in server mode: a delivery stream to S3, records read back from the bucket."""

from __future__ import annotations

import boto3
import orjson
from sinks.alerts import cloud, host, make_sink

from bridge.route.ident import alert_id


def test_records_reach_the_s3_destination(aws: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    fh = boto3.client("firehose", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="fh-out")
    fh.create_delivery_stream(DeliveryStreamName="alerts", ExtendedS3DestinationConfiguration={
        "RoleARN": "arn:aws:iam::123456789012:role/fh", "BucketARN": "arn:aws:s3:::fh-out"})
    s = make_sink({"name": "fh", "type": "aws_firehose", "delivery_stream": "alerts",
                   "endpoint_url": aws, "region": "us-east-1"})
    s.send([cloud(1), host(2)])
    data = b"".join(s3.get_object(Bucket="fh-out", Key=o["Key"])["Body"].read()
                    for o in s3.list_objects_v2(Bucket="fh-out").get("Contents", []))
    assert [orjson.loads(x)["id"] for x in data.splitlines()] == [alert_id(cloud(1)), alert_id(host(2))]
