"""Realistic CloudTrail records and log files for the plugin tests."""

from __future__ import annotations

import copy
import json
from typing import Any

_BASE: dict[str, Any] = {
    "eventVersion": "1.09",
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEROLEID:ci-session",
        "arn": "arn:aws:sts::123456789012:assumed-role/DeployRole/ci-session",
        "accountId": "123456789012",
        "accessKeyId": "ASIAEXAMPLEKEY",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEROLEID",
                "arn": "arn:aws:iam::123456789012:role/DeployRole",
                "accountId": "123456789012",
                "userName": "DeployRole",
            },
            "attributes": {"creationDate": "2024-05-01T11:58:00Z", "mfaAuthenticated": "false"},
        },
    },
    "eventTime": "2024-05-01T12:00:00Z",
    "eventSource": "s3.amazonaws.com",
    "eventName": "PutBucketAcl",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "203.0.113.10",
    "userAgent": "[aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64]",
    "requestParameters": {
        "bucketName": "acme-data",
        "Host": "acme-data.s3.amazonaws.com",
        "acl": "",
        "x-amz-acl": ["public-read"],
    },
    "responseElements": None,
    "additionalEventData": {"bytesTransferredIn": 0, "bytesTransferredOut": 0},
    "requestID": "9VQ1EXAMPLE",
    "eventID": "3f1c2a6e-0000-4000-8000-000000000000",
    "readOnly": False,
    "resources": [{"accountId": "123456789012", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::acme-data"}],
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": "123456789012",
    "eventCategory": "Management",
}


def make_record(i: int = 0, **overrides: Any) -> dict[str, Any]:
    """A realistic CloudTrail record; `i` varies eventTime (one second apart) and eventID.
    An override whose value is ... removes the key."""
    rec = copy.deepcopy(_BASE)
    rec["eventTime"] = "2024-05-01T12:%02d:%02dZ" % (i // 60 % 60, i % 60)
    rec["eventID"] = "3f1c2a6e-0000-4000-8000-%012d" % i
    for key, value in overrides.items():
        if value is ...:
            rec.pop(key, None)
        else:
            rec[key] = value
    return rec


def ts_of(i: int) -> int:
    """eventTime of make_record(i) in ns."""
    return (1714564800 + i) * 1_000_000_000


def log_file_text(records: list[dict[str, Any]], indent: int | None = 2) -> tuple[bytes, list[bytes]]:
    """A CloudTrail log file {"Records":[...]} and each record's exact bytes inside it."""
    texts = [json.dumps(r, indent=indent).encode() for r in records]
    body = b'{"Records": [\n' + b",\n".join(texts) + b"\n]}\n"
    return body, texts
