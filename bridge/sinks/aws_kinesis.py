"""Kinesis Data Streams: PutRecords, one record per alert, partitioned by the alert id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.model import Alert
from bridge.route.ident import alert_id
from bridge.sinks import _aws
from bridge.sinks._aws import AwsOptions
from bridge.sinks._base import SINKS, Common, Sink
from bridge.sinks._encoding import check_encoding, encode


@dataclass(frozen=True, kw_only=True)
class KinesisConfig(AwsOptions):
    stream_name: str = field(metadata={"doc": "data stream name"})
    partition_key: str = field(default="id", metadata={"doc": "id (spread evenly) or rule (per-rule order)"})
    encoding: str = field(default="falco", metadata={"doc": "falco or ocsf"})

    def validate(self, path: str) -> None:
        check_encoding(self.encoding, path)


@SINKS.register("aws_kinesis")
class AwsKinesis(Sink):
    Config = KinesisConfig
    max_batch = 500
    summary = "Kinesis Data Streams: batched PutRecords; failed records of a batch are retried alone."
    example = """\
destinations:
  - name: stream
    type: aws_kinesis
    stream_name: falco-alerts
    encoding: ocsf
"""

    def __init__(self, name: str, config: KinesisConfig, common: Common) -> None:
        super().__init__(name, config, common)
        self.client = _aws.client("kinesis", config, name)

    def build(self, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
        return [{"Data": encode(a, self.config.encoding) + b"\n",
                 "PartitionKey": (a.rule[:256] or "falco") if self.config.partition_key == "rule" else alert_id(a)}
                for a in alerts]

    def send(self, alerts: Sequence[Alert]) -> None:
        records = self.build(alerts)

        def one(start: int, end: int) -> _aws.Failed:
            resp = _aws.call(self.name, self.client.put_records, StreamName=self.config.stream_name,
                             Records=records[start:end])
            if not resp.get("FailedRecordCount"):
                return []
            return [(i, f"{r.get('ErrorCode')}: {r.get('ErrorMessage', '')}", True)
                    for i, r in enumerate(resp.get("Records", [])) if r.get("ErrorCode")]

        # PutRecords: at most 500 records and 5 MiB in all (data and partition keys)
        _aws.send_chunked([len(r["Data"]) + len(r["PartitionKey"]) for r in records], 5 * 1024 * 1024, 500, one)
