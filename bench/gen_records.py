"""Write N realistic CloudTrail records (~1.5 KB each) as gzipped CloudTrail log files.

The mix follows what a busy account's trail looks like: S3 data events from assumed roles,
EC2 and IAM management calls from IAM users, and AWS service calls. Deterministic per --seed.

    python bench/gen_records.py --count 200000 --out build/bench/records
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
AGENTS = [
    "[aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.0-18-amd64 md/arch#x86_64 lang/python#3.11.8 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#debian.12 md/prompt#off "
    "md/command#s3api.get-object]",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.1",
    "Boto3/1.34.58 md/Botocore#1.34.58 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.58",
    "console.amazonaws.com",
]


def _assumed_role(rng: random.Random) -> dict[str, Any]:
    role = rng.choice(["DataPipelineRole", "DeployRole", "AnalyticsRole", "BackupRole"])
    session = rng.choice(["i-0a1b2c3d4e5f60718", "ci-runner-4711", "botocore-session-1715000000"])
    rid = "AROA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(17))
    return {
        "type": "AssumedRole",
        "principalId": f"{rid}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": rid,
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                "accountId": ACCOUNT,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2024-05-01T11:02:13Z", "mfaAuthenticated": "false"},
            "ec2RoleDelivery": "2.0",
        },
    }


def _iam_user(rng: random.Random) -> dict[str, Any]:
    user = rng.choice(["alice", "bob", "ops-deployer", "terraform"])
    return {
        "type": "IAMUser",
        "principalId": "AIDA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(17)),
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
        "userName": user,
        "sessionContext": {"attributes": {"creationDate": "2024-05-01T08:00:00Z", "mfaAuthenticated": "true"}},
    }


def _tls(host: str) -> dict[str, Any]:
    return {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": host}


def _s3_data(rng: random.Random, region: str) -> dict[str, Any]:
    bucket = rng.choice(["acme-data", "prod-logs", "ml-training-sets"])
    key = f"reports/{rng.randint(2019, 2024)}/q{rng.randint(1, 4)}/part-{rng.randint(0, 99999):05d}.parquet"
    name = rng.choice(["GetObject", "GetObject", "PutObject", "HeadObject"])
    size = rng.randint(100, 50_000_000)
    return {
        "userIdentity": _assumed_role(rng),
        "eventSource": "s3.amazonaws.com",
        "eventName": name,
        "requestParameters": {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com", "key": key},
        "responseElements": None,
        "additionalEventData": {
            "SignatureVersion": "SigV4",
            "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": size if name == "PutObject" else 0,
            "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(76)),
            "bytesTransferredOut": size if name == "GetObject" else 0,
        },
        "readOnly": name != "PutObject",
        "resources": [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        "managementEvent": False,
        "eventCategory": "Data",
        "tlsDetails": _tls(f"{bucket}.s3.{region}.amazonaws.com"),
    }


def _s3_acl(rng: random.Random, region: str) -> dict[str, Any]:
    bucket = rng.choice(["acme-data", "public-assets"])
    return {
        "userIdentity": _iam_user(rng),
        "eventSource": "s3.amazonaws.com",
        "eventName": "PutBucketAcl",
        "requestParameters": {
            "bucketName": bucket,
            "Host": f"{bucket}.s3.amazonaws.com",
            "acl": "",
            "x-amz-acl": [rng.choice(["public-read", "private", "authenticated-read"])],
        },
        "responseElements": None,
        "additionalEventData": {"SignatureVersion": "SigV4", "bytesTransferredIn": 0, "bytesTransferredOut": 0},
        "readOnly": False,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
        "managementEvent": True,
        "eventCategory": "Management",
        "tlsDetails": _tls(f"{bucket}.s3.amazonaws.com"),
    }


def _ec2(rng: random.Random, region: str) -> dict[str, Any]:
    ami = f"ami-0{rng.randint(10**15, 10**16 - 1):x}"[:21]
    subnet = f"subnet-0{rng.randint(10**15, 10**16 - 1):x}"[:24]
    return {
        "userIdentity": _iam_user(rng),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances",
        "requestParameters": {
            "instancesSet": {"items": [{"imageId": ami, "minCount": 1, "maxCount": 1}]},
            "instanceType": rng.choice(["t3.micro", "m6i.large", "c7g.xlarge"]),
            "subnetId": subnet,
            "availabilityZone": region + "b",
            "tagSpecificationSet": {
                "items": [{"resourceType": "instance", "tags": [{"key": "Name", "value": f"web-{rng.randint(1, 99):02d}"}]}]
            },
        },
        "responseElements": {
            "reservationId": f"r-0{rng.randint(10**15, 10**16 - 1):x}"[:19],
            "instancesSet": {"items": [{"instanceId": f"i-0{rng.randint(10**15, 10**16 - 1):x}"[:19],
                                        "imageId": ami, "subnetId": subnet}]},
        },
        "readOnly": False,
        "managementEvent": True,
        "eventCategory": "Management",
        "tlsDetails": _tls(f"ec2.{region}.amazonaws.com"),
    }


def _iam(rng: random.Random, region: str) -> dict[str, Any]:
    name = rng.choice(["CreateUser", "AttachRolePolicy", "PutRolePolicy", "CreateAccessKey"])
    return {
        "userIdentity": _iam_user(rng),
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "requestParameters": {
            "userName": rng.choice(["svc-backup", "temp-contractor"]),
            "roleName": rng.choice(["DataPipelineRole", "DeployRole"]),
            "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
            "policyName": "inline-admin",
        },
        "responseElements": None,
        "readOnly": False,
        "managementEvent": True,
        "eventCategory": "Management",
        "tlsDetails": _tls("iam.amazonaws.com"),
    }


def _service(rng: random.Random, region: str) -> dict[str, Any]:
    return {
        "userIdentity": {"type": "AWSService", "invokedBy": "lambda.amazonaws.com"},
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "sourceIPAddress": "lambda.amazonaws.com",
        "userAgent": "lambda.amazonaws.com",
        "requestParameters": {
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/service-role/processor-role-{rng.randint(1000, 9999)}",
            "roleSessionName": "processor",
            "durationSeconds": 43200,
        },
        "responseElements": {
            "credentials": {"accessKeyId": "ASIAEXAMPLE", "sessionToken": "x" * 120,
                            "expiration": "May 2, 2024, 12:00:00 AM"},
        },
        "readOnly": True,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::IAM::Role",
                       "ARN": f"arn:aws:iam::{ACCOUNT}:role/service-role/processor-role"}],
        "managementEvent": True,
        "eventCategory": "Management",
        "sharedEventID": str(uuid.UUID(int=rng.getrandbits(128))),
    }


KINDS = [(_s3_data, 50), (_s3_acl, 5), (_ec2, 15), (_iam, 10), (_service, 20)]


def record(rng: random.Random, when: datetime) -> dict[str, Any]:
    region = rng.choice(REGIONS)
    make = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
    body = make(rng, region)
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": body.pop("userIdentity"),
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": body.pop("eventSource"),
        "eventName": body.pop("eventName"),
        "awsRegion": region,
        "sourceIPAddress": body.pop("sourceIPAddress", f"203.0.113.{rng.randint(1, 254)}"),
        "userAgent": body.pop("userAgent", rng.choice(AGENTS)),
    }
    rec.update(body)
    rec["requestID"] = uuid.UUID(int=rng.getrandbits(128)).hex.upper()[:16]
    rec["eventID"] = str(uuid.UUID(int=rng.getrandbits(128)))
    rec["eventType"] = "AwsApiCall"
    rec["recipientAccountId"] = ACCOUNT
    return rec


ORG = "o-a1b2c3d4e5"
ACCOUNTS = [ACCOUNT, "210987654321", "333344445555", "444455556666"]


def _sized(rng: random.Random, rec: dict[str, Any]) -> None:
    """The size mix of a real trail: most records 1-2 KB, some tiny (~300 B service events with
    few fields), a few large (responseElements of Describe*/List* calls, up to ~100 KB)."""
    roll = rng.random()
    if roll < 0.10:
        for key in ("requestParameters", "responseElements", "resources", "tlsDetails", "userAgent"):
            rec.pop(key, None)
    elif roll < 0.13:
        n = rng.choice([20, 100, 400, 1000])  # ~100 B per item: 2 KB .. 100 KB
        rec["responseElements"] = {"items": [{"id": f"i-{rng.getrandbits(60):015x}", "state": "running",
                                              "tags": [{"key": "team", "value": rng.choice(["a", "b"])}]}
                                             for _ in range(n)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--per-file", type=int, default=2_000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--org", action="store_true",
                    help="organization-trail layout AWSLogs/ORG/ACCOUNT/CloudTrail/REGION/Y/M/D/ over "
                         f"{len(ACCOUNTS)} accounts, and the record size mix (300 B .. 100 KB)")
    ap.add_argument("--big-mb", type=int, default=0,
                    help="also write one log file of about this many MB compressed (e.g. 50)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    written = total_bytes = 0
    index = 0
    while written < args.count:
        n = min(args.per_file, args.count - written)
        recs = [record(rng, start + timedelta(milliseconds=100 * (written + i))) for i in range(n)]
        if args.org:
            for r in recs:
                _sized(rng, r)
        texts = [json.dumps(r, separators=(",", ":")) for r in recs]
        total_bytes += sum(len(t) for t in texts)
        when = f"20240501T{index // 60 % 24:02d}{index % 60:02d}Z"
        if args.org:
            acct, region = ACCOUNTS[index % len(ACCOUNTS)], REGIONS[index // len(ACCOUNTS) % len(REGIONS)]
            folder = args.out / "AWSLogs" / ORG / acct / "CloudTrail" / region / "2024" / "05" / "01"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{acct}_CloudTrail_{region}_{when}_{index:06d}.json.gz"
        else:
            path = args.out / f"{ACCOUNT}_CloudTrail_us-east-1_{when}_{index:06d}.json.gz"
        with gzip.open(path, "wt", compresslevel=6) as f:
            f.write('{"Records":[' + ",".join(texts) + "]}")
        written += n
        index += 1
    print(f"wrote {written} records in {index} files to {args.out} (avg {total_bytes // max(written, 1)} bytes)")
    if args.big_mb:
        print(f"wrote {big_file(args.out, args.big_mb, rng)}")


def big_file(out: Path, mb: int, rng: random.Random) -> str:
    """One log file of about `mb` MB compressed: 20,000 distinct records repeated with fresh
    eventIDs (compresses like a real file: ~10:1)."""
    pool = [record(rng, datetime(2024, 5, 2, 0, 0, tzinfo=UTC) + timedelta(milliseconds=10 * i)) for i in range(20_000)]
    path = out / "big" / f"{ACCOUNT}_CloudTrail_us-east-1_20240502T0000Z_big.json.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as f:
        f.write(b'{"Records":[')
        while raw.tell() < mb * 1_000_000:
            part = []
            for r in pool:
                r["eventID"] = str(uuid.UUID(int=rng.getrandbits(128)))
                part.append(json.dumps(r, separators=(",", ":")))
            f.write(("," if count else "").encode() + ",".join(part).encode())
            count += len(part)
        f.write(b"]}")
    return f"{path} ({path.stat().st_size / 1e6:.0f} MB, {count} records)"


if __name__ == "__main__":
    main()
