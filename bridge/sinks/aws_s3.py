"""Amazon S3: batches of alerts as gzip'd JSON-lines objects under time-partitioned keys."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from bridge.model import Alert
from bridge.route.ident import alert_id
from bridge.sinks import _aws
from bridge.sinks._aws import AwsOptions
from bridge.sinks._base import SINKS, Common, Sink
from bridge.sinks._encoding import check_encoding, encode


@dataclass(frozen=True, kw_only=True)
class S3Config(AwsOptions):
    bucket: str = field(metadata={"doc": "bucket to write to"})
    prefix: str = field(default="falco/", metadata={"doc": "key prefix"})
    encoding: str = field(default="falco", metadata={"doc": "falco or ocsf (JSON lines; Security Lake itself takes Parquet, see aws_firehose)"})
    sse: str | None = field(default=None, metadata={"doc": "server-side encryption: AES256 or aws:kms"})
    kms_key_id: str | None = field(default=None, metadata={"doc": "KMS key for sse: aws:kms"})

    def validate(self, path: str) -> None:
        check_encoding(self.encoding, path)


@SINKS.register("aws_s3")
class AwsS3(Sink):
    Config = S3Config
    max_batch = 1000
    summary = ("Amazon S3: each batch is one gzip'd JSON-lines object at "
               "`<prefix>year=YYYY/month=MM/day=DD/hour=HH/<time>-<hash>.jsonl.gz`; the key is derived "
               "from the batch's alert ids, so a retried batch overwrites rather than duplicates.")
    example = """\
destinations:
  - name: archive
    type: aws_s3
    bucket: my-falco-archive
    prefix: alerts/
    sse: aws:kms
    batch: {max_events: 1000, interval: 60}
"""

    def __init__(self, name: str, config: S3Config, common: Common) -> None:
        super().__init__(name, config, common)
        self.client = _aws.client("s3", config, name)

    def build(self, alerts: Sequence[Alert], now: dt.datetime | None = None) -> tuple[str, bytes]:
        """(key, gzip'd body); the partition is the send time (UTC)."""
        t = now or dt.datetime.now(dt.UTC)
        digest = hashlib.sha256("".join(alert_id(a) for a in alerts).encode()).hexdigest()[:16]
        key = (f"{self.config.prefix}year={t:%Y}/month={t:%m}/day={t:%d}/hour={t:%H}/"
               f"{t:%Y%m%dT%H%M%SZ}-{digest}.jsonl.gz")
        lines = b"".join(encode(a, self.config.encoding) + b"\n" for a in alerts)
        return key, gzip.compress(lines, compresslevel=6, mtime=0)

    def send(self, alerts: Sequence[Alert]) -> None:
        key, body = self.build(alerts)
        kw: dict[str, str] = {}
        if self.config.sse:
            kw["ServerSideEncryption"] = self.config.sse
        if self.config.kms_key_id:
            kw["SSEKMSKeyId"] = self.config.kms_key_id
        _aws.call(self.name, self.client.put_object, Bucket=self.config.bucket, Key=key, Body=body,
                  ContentType="application/x-ndjson", ContentEncoding="gzip", **kw)
