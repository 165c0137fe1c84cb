"""aws_kinesis against moto in server mode: records read back from the shard."""

from __future__ import annotations

import boto3
import orjson
from sinks.alerts import cloud, host, make_sink

from bridge.route.ident import alert_id


def test_records_read_back_in_ocsf(aws: str) -> None:
    k = boto3.client("kinesis", endpoint_url=aws, region_name="us-east-1")
    k.create_stream(StreamName="alerts", ShardCount=1)
    s = make_sink({"name": "k", "type": "aws_kinesis", "stream_name": "alerts", "encoding": "ocsf",
                   "endpoint_url": aws, "region": "us-east-1"})
    s.send([cloud(1), host(2)])
    shard = k.describe_stream(StreamName="alerts")["StreamDescription"]["Shards"][0]["ShardId"]
    it = k.get_shard_iterator(StreamName="alerts", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    recs = [orjson.loads(r["Data"]) for r in k.get_records(ShardIterator=it)["Records"]]
    assert [r["finding_info"]["uid"] for r in recs] == [alert_id(cloud(1)), alert_id(host(2))]
    assert recs[0]["class_uid"] == 2004 and recs[0]["cloud"]["account"]["uid"] == "161134881107"
    assert [e["PartitionKey"] for e in s.build([cloud(1)])] == [alert_id(cloud(1))]
