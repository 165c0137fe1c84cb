"""OCSF 1.1 Detection Finding (class 2004) from a Falco alert; unknown Falco fields go to `unmapped`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bridge.model import Alert
from bridge.route.ident import alert_id

OCSF_VERSION = "1.1.0"
# OCSF severity_id: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical, 6 Fatal, 99 Other.
SEVERITY_ID = {"Emergency": 6, "Alert": 5, "Critical": 5, "Error": 4, "Warning": 3, "Notice": 2,
               "Informational": 1, "Debug": 1}
SEVERITY_NAME = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal", 99: "Other"}


def epoch_ms(falco_time: str) -> int:
    """'2020-10-19T17:21:05.123456789Z' -> milliseconds; 0 when unparsable."""
    try:
        base, _, frac = falco_time.rstrip("Z").partition(".")
        t = dt.datetime.fromisoformat(base).replace(tzinfo=dt.UTC)
        return int(t.timestamp()) * 1000 + int((frac + "000")[:3] or 0)
    except ValueError:
        return 0


def detection_finding(alert: Alert) -> dict[str, Any]:
    f = alert.output_fields
    sev = SEVERITY_ID.get(alert.priority, 99)
    uid = alert_id(alert)
    t = epoch_ms(alert.time)
    out: dict[str, Any] = {
        "class_uid": 2004, "class_name": "Detection Finding",
        "category_uid": 2, "category_name": "Findings",
        "activity_id": 1, "activity_name": "Create", "type_uid": 200401,
        "severity_id": sev, "severity": SEVERITY_NAME[sev],
        "status_id": 1, "status": "New",
        "time": t,
        "message": alert.output,
        "metadata": {"version": OCSF_VERSION, "uid": uid,
                     "product": {"name": "Falco", "vendor_name": "Falcosecurity"},
                     "labels": list(alert.tags)},
        "finding_info": {"uid": uid, "title": alert.rule, "desc": alert.output,
                         "types": list(alert.tags), "created_time": t,
                         "analytic": {"name": alert.rule, "type_id": 1, "type": "Rule"}},
        "unmapped": {"falco.source": alert.source, "falco.priority": alert.priority,
                     "falco.hostname": alert.hostname, "output_fields": f},
    }
    if alert.source == "aws_cloudtrail":
        cloud: dict[str, Any] = {"provider": "AWS"}
        if f.get("ct.region"):
            cloud["region"] = f["ct.region"]
        if f.get("ct.user.accountid"):
            cloud["account"] = {"uid": str(f["ct.user.accountid"])}
        out["cloud"] = cloud
        if f.get("ct.user.arn") or f.get("ct.user"):
            out["actor"] = {"user": {"name": str(f.get("ct.user") or ""), "uid": str(f.get("ct.user.arn") or "")}}
        if f.get("ct.srcip"):
            out["src_endpoint"] = {"ip": str(f["ct.srcip"])}
        if f.get("s3.bucket"):
            out["resources"] = [{"type": "AWS::S3::Bucket", "name": str(f["s3.bucket"]),
                                 "uid": f"arn:aws:s3:::{f['s3.bucket']}"}]
    elif alert.hostname:
        out["device"] = {"hostname": alert.hostname, "type_id": 0}
    return out
