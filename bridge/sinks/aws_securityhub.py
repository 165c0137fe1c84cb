"""AWS Security Hub: BatchImportFindings, one ASFF finding per alert, Id = the alert id (idempotent)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.model import Alert
from bridge.route.ident import alert_id
from bridge.sinks import _aws
from bridge.sinks._aws import AwsOptions
from bridge.sinks._base import SINKS, Common, Sink
from bridge.sinks._encoding import iso_ms

SEVERITY = {"Emergency": "CRITICAL", "Alert": "CRITICAL", "Critical": "CRITICAL", "Error": "HIGH",
            "Warning": "MEDIUM", "Notice": "LOW", "Informational": "INFORMATIONAL", "Debug": "INFORMATIONAL"}


def asff_time(falco_time: str, default: str) -> str:
    """ASFF takes RFC 3339 with milliseconds."""
    return iso_ms(falco_time) or default


def now_iso() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


@dataclass(frozen=True, kw_only=True)
class SecurityHubConfig(AwsOptions):
    account_id: str | None = field(default=None, metadata={"doc": "importing account (default: sts:GetCallerIdentity)"})
    product_arn: str | None = field(default=None, metadata={
        "doc": "default arn:aws:securityhub:<region>:<account>:product/<account>/default"})
    types: list[str] = field(default_factory=lambda: ["Unusual Behaviors"], metadata={"doc": "ASFF finding Types"})


@SINKS.register("aws_securityhub")
class AwsSecurityHub(Sink):
    Config = SecurityHubConfig
    max_batch = 100
    batch_limit = 100  # BatchImportFindings takes at most 100 findings
    summary = ("AWS Security Hub: one ASFF finding per alert via BatchImportFindings. Severity from the "
               "priority, resources and account/region from the CloudTrail fields, `Id` = the alert id "
               "so a resend updates the same finding (`UpdatedAt` is the send time).")
    example = """\
destinations:
  - name: securityhub
    type: aws_securityhub
    region: us-east-1
    account_id: "123456789012"
routes:
  - {sources: [aws_cloudtrail], min_priority: Warning, to: [securityhub]}
"""

    def __init__(self, name: str, config: SecurityHubConfig, common: Common) -> None:
        super().__init__(name, config, common)
        self.client = _aws.client("securityhub", config, name)
        self.region = config.region or self.client.meta.region_name
        account = config.account_id
        if account is None and config.product_arn is None:
            sts = _aws.client("sts", config, name)
            account = str(_aws.call(name, sts.get_caller_identity)["Account"])
        self.account = account or ""
        self.product_arn = config.product_arn or (
            f"arn:aws:securityhub:{self.region}:{self.account}:product/{self.account}/default")

    def finding(self, a: Alert, now: str) -> dict[str, Any]:
        f = a.output_fields
        region = str(f.get("ct.region") or self.region)
        resources: list[dict[str, Any]] = []
        if f.get("s3.bucket"):
            resources.append({"Type": "AwsS3Bucket", "Id": f"arn:aws:s3:::{f['s3.bucket']}", "Region": region})
        if f.get("ct.user.arn"):
            arn = str(f["ct.user.arn"])
            parts = arn.split(":", 5)
            if len(parts) == 6 and parts[5].startswith("assumed-role/"):  # the session's role
                arn = f"arn:{parts[1]}:iam::{parts[4]}:role/{parts[5].split('/')[1]}"
            kind = "AwsIamUser" if ":user/" in arn else "AwsIamRole" if ":role/" in arn else "Other"
            resources.append({"Type": kind, "Id": arn, "Region": region})
        if f.get("container.id") or f.get("container.name"):
            resources.append({"Type": "Container", "Id": str(f.get("container.id") or f.get("container.name")),
                              "Region": region})
        if not resources:
            resources.append({"Type": "Other", "Id": a.hostname or a.source or "falco", "Region": region})
        when = asff_time(a.time, now)
        product_fields = {"falco/rule": a.rule[:1024], "falco/priority": a.priority, "falco/source": a.source,
                          "falco/hostname": a.hostname, "falco/tags": ",".join(a.tags)[:1024]}
        for k, v in list(f.items())[:40]:
            if v is not None:
                product_fields[f"falco/field/{k}"[:128]] = str(v)[:2048]
        return {
            "SchemaVersion": "2018-10-08",
            "Id": alert_id(a),
            "ProductArn": self.product_arn,
            "GeneratorId": f"falco/{a.rule}"[:512],
            "AwsAccountId": str(f.get("ct.user.accountid") or f.get("ct.account.id") or self.account),
            "Region": region,
            "Types": list(self.config.types),
            "FirstObservedAt": when,
            "CreatedAt": when,
            "UpdatedAt": now,
            "Severity": {"Label": SEVERITY.get(a.priority, "INFORMATIONAL"), "Original": a.priority or "unknown"},
            "Title": (a.rule or "Falco alert")[:256],
            "Description": (a.output or a.rule)[:1024],
            "ProductFields": {k: v for k, v in product_fields.items() if v},
            "Resources": resources,
            "RecordState": "ACTIVE",
            "Workflow": {"Status": "NEW"},
        }

    def build(self, alerts: Sequence[Alert], now: str | None = None) -> list[dict[str, Any]]:
        stamp = now or now_iso()
        return [self.finding(a, stamp) for a in alerts]

    def send(self, alerts: Sequence[Alert]) -> None:
        findings = self.build(alerts)
        resp = _aws.call(self.name, self.client.batch_import_findings, Findings=findings)
        index = {fd["Id"]: i for i, fd in enumerate(findings)}
        _aws.batch_outcome([(index.get(x.get("Id", ""), 0), f"{x.get('ErrorCode')}: {x.get('ErrorMessage', '')}",
                             x.get("ErrorCode") in ("ThrottlingException", "InternalException"))
                            for x in resp.get("FailedFindings", [])])
