"""aws_securityhub against moto in server mode: ASFF findings imported and read back with GetFindings."""

from __future__ import annotations

import boto3
from sinks.alerts import cloud, host, make_sink

from bridge.route.ident import alert_id


def sink(aws: str, **kw: object):  # type: ignore[no-untyped-def]
    return make_sink({"name": "sh", "type": "aws_securityhub", "endpoint_url": aws, "region": "us-east-1", **kw})


def test_findings_are_imported_and_read_back(aws: str) -> None:
    s = sink(aws)  # account from sts:GetCallerIdentity (moto answers 123456789012)
    s.send([cloud(1), host(2)])
    hub = boto3.client("securityhub", endpoint_url=aws, region_name="us-east-1")
    found = {f["Id"]: f for f in hub.get_findings()["Findings"]}
    c = found[alert_id(cloud(1))]
    assert c["ProductArn"] == "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
    assert c["AwsAccountId"] == "161134881107" and c["Region"] == "us-east-1"
    assert c["Severity"] == {"Label": "CRITICAL", "Original": "Critical"}
    assert c["CreatedAt"] == "2020-10-19T17:21:05.000Z" and c["GeneratorId"] == "falco/Delete Bucket Encryption"
    assert {r["Type"]: r["Id"] for r in c["Resources"]} == {
        "AwsS3Bucket": "arn:aws:s3:::jd-1603127991",
        "AwsIamRole": "arn:aws:iam::161134881107:role/TeamRole"}
    h = found[alert_id(host(2))]
    assert h["Severity"]["Label"] == "LOW" and h["Resources"][0]["Type"] == "Container"
    assert h["AwsAccountId"] == "123456789012"


def test_resend_updates_the_same_finding(aws: str) -> None:
    s = sink(aws, account_id="111122223333")
    first = s.build([cloud(1)], now="2026-01-01T00:00:00.000Z")[0]
    s.send([cloud(1)])
    s.send([cloud(1)])  # a retried batch: same Id, later UpdatedAt
    hub = boto3.client("securityhub", endpoint_url=aws, region_name="us-east-1")
    findings = hub.get_findings()["Findings"]
    assert len(findings) == 1 and findings[0]["Id"] == first["Id"]
    assert findings[0]["UpdatedAt"] > first["UpdatedAt"]
