"""The moto fixture answers boto3 over real HTTP, and reset() empties it between tests."""

from __future__ import annotations

import boto3


def test_boto3_reaches_moto_over_http(aws: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="trail")
    s3.put_object(Bucket="trail", Key="k", Body=b"x")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="trail")["Contents"]] == ["k"]


def test_each_test_starts_empty(aws: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    assert s3.list_buckets()["Buckets"] == []
