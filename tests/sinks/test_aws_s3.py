"""aws_s3 against moto in server mode: gzip'd JSON-lines objects under time-partitioned keys."""

from __future__ import annotations

import datetime as dt
import gzip

import boto3
import orjson
from sinks.alerts import cloud, host, make_sink

from bridge.route.ident import alert_id


def test_batch_object_read_back(aws: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="archive")
    s = make_sink({"name": "s3", "type": "aws_s3", "bucket": "archive", "prefix": "alerts/",
                   "endpoint_url": aws, "region": "us-east-1"})
    s.send([cloud(1), host(2)])
    (obj,) = s3.list_objects_v2(Bucket="archive")["Contents"]
    now = dt.datetime.now(dt.UTC)
    assert obj["Key"].startswith(f"alerts/year={now:%Y}/month={now:%m}/day={now:%d}/") and obj["Key"].endswith(".jsonl.gz")
    body = s3.get_object(Bucket="archive", Key=obj["Key"])["Body"].read()
    lines = [orjson.loads(x) for x in gzip.decompress(body).splitlines()]
    assert [x["id"] for x in lines] == [alert_id(cloud(1)), alert_id(host(2))]


def test_retried_batch_has_the_same_key_and_ocsf_encoding() -> None:
    s = make_sink({"name": "s3", "type": "aws_s3", "bucket": "b", "encoding": "ocsf", "region": "us-east-1",
                   "endpoint_url": "http://127.0.0.1:1"})
    t = dt.datetime(2026, 11, 30, 3, 4, 5, tzinfo=dt.UTC)
    k1, b1 = s.build([cloud(1)], now=t)
    k2, b2 = s.build([cloud(1)], now=t)
    assert k1 == k2 and k1.startswith("falco/year=2026/month=11/day=30/hour=03/20261130T030405Z-")
    (line,) = gzip.decompress(b1).splitlines()
    assert orjson.loads(line)["class_uid"] == 2004 and b1 == b2
