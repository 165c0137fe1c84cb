"""Amazon Data Firehose: PutRecordBatch, one newline-terminated JSON record per alert."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.model import Alert
from bridge.sinks import _aws
from bridge.sinks._aws import AwsOptions
from bridge.sinks._base import SINKS, Common, Sink
from bridge.sinks._encoding import check_encoding, encode


@dataclass(frozen=True, kw_only=True)
class FirehoseConfig(AwsOptions):
    delivery_stream: str = field(metadata={"doc": "Firehose stream name"})
    encoding: str = field(default="falco", metadata={"doc": "falco or ocsf"})

    def validate(self, path: str) -> None:
        check_encoding(self.encoding, path)


@SINKS.register("aws_firehose")
class AwsFirehose(Sink):
    Config = FirehoseConfig
    max_batch = 500
    summary = ("Amazon Data Firehose: batched PutRecordBatch; failed records of a batch are retried alone. "
               "With `encoding: ocsf` and a stream that converts records to Parquet, this feeds an "
               "Amazon Security Lake custom source.")
    example = """\
destinations:
  - name: firehose
    type: aws_firehose
    delivery_stream: falco-to-security-lake   # record format conversion to Parquet on the stream
    encoding: ocsf
"""

    def __init__(self, name: str, config: FirehoseConfig, common: Common) -> None:
        super().__init__(name, config, common)
        self.client = _aws.client("firehose", config, name)

    def build(self, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
        return [{"Data": encode(a, self.config.encoding) + b"\n"} for a in alerts]

    def send(self, alerts: Sequence[Alert]) -> None:
        records = self.build(alerts)

        def one(start: int, end: int) -> _aws.Failed:
            resp = _aws.call(self.name, self.client.put_record_batch,
                             DeliveryStreamName=self.config.delivery_stream, Records=records[start:end])
            if not resp.get("FailedPutCount"):
                return []
            return [(i, f"{r.get('ErrorCode')}: {r.get('ErrorMessage', '')}", True)
                    for i, r in enumerate(resp.get("RequestResponses", [])) if r.get("ErrorCode")]

        # PutRecordBatch: at most 500 records and 4 MiB in all
        _aws.send_chunked([len(r["Data"]) for r in records], 4 * 1024 * 1024, 500, one)
