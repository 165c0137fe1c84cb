"""The OCSF 1.1 Detection Finding encoding (encoding: ocsf) used by S3, webhook, Kinesis and others."""

from __future__ import annotations

import dataclasses

from sinks.alerts import cloud, host

from bridge.route.ident import alert_id
from bridge.sinks._ocsf import detection_finding, epoch_ms


def test_cloudtrail_alert_maps_to_a_detection_finding() -> None:
    f = detection_finding(cloud(1))
    assert (f["class_uid"], f["category_uid"], f["activity_id"], f["type_uid"]) == (2004, 2, 1, 200401)
    assert (f["severity_id"], f["severity"]) == (5, "Critical")
    assert f["time"] == 1603128065000 and f["metadata"]["uid"] == alert_id(cloud(1))
    assert f["metadata"]["product"] == {"name": "Falco", "vendor_name": "Falcosecurity"}
    assert f["finding_info"]["title"] == "Delete Bucket Encryption" and f["finding_info"]["uid"] == alert_id(cloud(1))
    assert f["cloud"] == {"provider": "AWS", "region": "us-east-1", "account": {"uid": "161134881107"}}
    assert f["actor"]["user"]["uid"] == "arn:aws:sts::161134881107:assumed-role/TeamRole/MasterKey"
    assert f["src_endpoint"] == {"ip": "203.0.113.45"}
    assert f["resources"] == [{"type": "AWS::S3::Bucket", "name": "jd-1603127991", "uid": "arn:aws:s3:::jd-1603127991"}]
    assert f["unmapped"]["output_fields"]["s3.bucket"] == "jd-1603127991"


def test_host_alert_and_severities() -> None:
    f = detection_finding(host(1))
    assert f["device"] == {"hostname": "node-1", "type_id": 0} and "cloud" not in f
    assert (f["severity_id"], f["severity"]) == (2, "Low")
    assert detection_finding(dataclasses.replace(host(1), priority="Emergency"))["severity_id"] == 6
    assert detection_finding(dataclasses.replace(host(1), priority="odd"))["severity"] == "Other"


def test_time_parsing() -> None:
    assert epoch_ms("2020-10-19T17:21:05.123456789Z") == 1603128065123
    assert epoch_ms("2020-10-19T17:21:05Z") == 1603128065000
    assert epoch_ms("not a time") == 0
