"""Throughput of normalize.records_from_blob on a big CloudTrail log file, with a same-run baseline.

    .venv/bin/python bench/bench_normalize.py [--mb 50] [--runs 3]

Generates bench/out/normalize_<mb>mb.json.gz once (a realistic {"Records": [...]} log file of about
that compressed size), then times records_from_blob over it against the floor of any Python
reader: gzip.decompress + orjson.loads of the same bytes (also shown with the cyclic GC off,
which records_from_blob does while parsing).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.model import Blob, Record
from bridge.normalize.logfile import records_from_blob

OUT = Path(__file__).resolve().parent / "out"

_CALLS: list[tuple[str, str, bool, Callable[[random.Random], dict[str, Any]]]] = [
    ("s3.amazonaws.com", "GetObject", True, lambda r: {"bucketName": f"data-{r.randint(1, 40)}", "key": f"p/{r.getrandbits(40):x}.parquet", "Host": "s3.amazonaws.com"}),
    ("s3.amazonaws.com", "PutObject", False, lambda r: {"bucketName": f"data-{r.randint(1, 40)}", "key": f"in/{r.getrandbits(48):x}", "x-amz-server-side-encryption": "aws:kms"}),
    ("ec2.amazonaws.com", "DescribeInstances", True, lambda r: {"instancesSet": {}, "filterSet": {"items": [{"name": "tag:team", "valueSet": {"items": [{"value": "core"}]}}]}}),
    ("ec2.amazonaws.com", "RunInstances", False, lambda r: {"instancesSet": {"items": [{"imageId": f"ami-{r.getrandbits(64):016x}", "minCount": 1, "maxCount": 1}]}, "instanceType": r.choice(["t3.micro", "m5.large", "c6i.xlarge"]), "subnetId": f"subnet-{r.getrandbits(32):08x}"}),
    ("sts.amazonaws.com", "AssumeRole", True, lambda r: {"roleArn": f"arn:aws:iam::123456789012:role/svc-{r.randint(1, 30)}", "roleSessionName": f"s-{r.getrandbits(32):x}", "durationSeconds": 3600}),
    ("iam.amazonaws.com", "AttachUserPolicy", False, lambda r: {"userName": f"user{r.randint(1, 200)}", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    ("kms.amazonaws.com", "Decrypt", True, lambda r: {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"aws:s3:arn": f"arn:aws:s3:::data-{r.randint(1, 40)}/x"}}),
    ("lambda.amazonaws.com", "Invoke", False, lambda r: {"functionName": f"fn-{r.randint(1, 60)}", "invocationType": "Event"}),
]
_AGENTS = ["aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2023", "Boto3/1.34.10 md/Botocore#1.34.10 ua/2.0 os/linux#6.1 lang/python#3.11.6",
           "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5", "console.amazonaws.com", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"]


def make_record(r: random.Random, t: float) -> dict[str, Any]:
    source, name, read_only, params = r.choice(_CALLS)
    user = f"user{r.randint(1, 200)}"
    region = r.choice(["us-east-1", "us-east-1", "eu-west-1", "ap-southeast-2"])
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole", "principalId": f"AROA{r.getrandbits(64):016X}:{user}",
            "arn": f"arn:aws:sts::123456789012:assumed-role/Team{r.randint(1, 9)}/{user}",
            "accountId": "123456789012", "accessKeyId": f"ASIA{r.getrandbits(64):016X}",
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": f"AROA{r.getrandbits(64):016X}",
                                  "arn": f"arn:aws:iam::123456789012:role/Team{r.randint(1, 9)}",
                                  "accountId": "123456789012", "userName": f"Team{r.randint(1, 9)}"},
                "attributes": {"creationDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t - 900)), "mfaAuthenticated": "false"},
            },
        },
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": f"{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
        "userAgent": r.choice(_AGENTS),
        "requestParameters": params(r),
        "responseElements": None if read_only else {"requestId": str(uuid.UUID(int=r.getrandbits(128), version=4))},
        "requestID": f"{r.getrandbits(64):016X}",
        "eventID": str(uuid.UUID(int=r.getrandbits(128), version=4)),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": source != "s3.amazonaws.com",
        "recipientAccountId": "123456789012",
        "eventCategory": "Management" if source != "s3.amazonaws.com" else "Data",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": f"{source.split('.')[0]}.{region}.amazonaws.com"},
    }


def generate(path: Path, target_bytes: int) -> int:
    r = random.Random(7)
    t = 1_790_000_000.0
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
        gz.write(b'{"Records":[')
        while raw.tell() < target_bytes:
            chunk = [orjson.dumps(make_record(r, t + i * 0.05)) for i in range(2000)]
            t += 100
            gz.write((b"," if count else b"") + b",".join(chunk))
            count += len(chunk)
        gz.write(b"]}")
    tmp.rename(path)
    return count


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=50, help="compressed size of the test file (MB)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    path = OUT / f"normalize_{args.mb}mb.json.gz"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, args.mb * 1_000_000)
    data = path.read_bytes()
    blob = Blob(str(path), data)

    def baseline() -> int:
        return len(orjson.loads(gzip.decompress(data))["Records"])

    def baseline_no_gc() -> int:
        gc.disable()
        try:
            return baseline()
        finally:
            gc.enable()

    def ours() -> int:
        n = 0
        for item in records_from_blob(blob):
            if not isinstance(item, Record):
                raise SystemExit(f"unexpected bad item: {item.reason}")
            n += 1
        return n

    base_t = min(timed(baseline)[0] for _ in range(args.runs))
    nogc_t = min(timed(baseline_no_gc)[0] for _ in range(args.runs))
    runs = [timed(ours) for _ in range(args.runs)]
    ours_t, count = min(runs, key=lambda x: x[0])
    raw_mb = len(gzip.decompress(data)) / 1e6
    print(f"file: {path.name}: {len(data) / 1e6:.1f} MB gzip, {raw_mb:.0f} MB JSON, {count} records")
    print(f"baseline gzip.decompress + orjson.loads: {base_t:.2f} s = {count / base_t:,.0f} records/s")
    print(f"same, cyclic GC off during the parse:    {nogc_t:.2f} s = {count / nogc_t:,.0f} records/s")
    print(f"records_from_blob (Records out):         {ours_t:.2f} s = {count / ours_t:,.0f} records/s")
    print(f"time ratio ours / baseline: {ours_t / base_t:.2f}x; ours / baseline without GC: "
          f"{ours_t / nogc_t:.2f}x  (best of {args.runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
