"""AWS SQS: one message per alert (SendMessageBatch, up to 10)."""

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
class SqsConfig(AwsOptions):
    queue_url: str = field(metadata={"doc": "queue to send to (a .fifo queue gets group and dedup ids)"})
    encoding: str = field(default="falco", metadata={"doc": "falco or ocsf"})

    def validate(self, path: str) -> None:
        check_encoding(self.encoding, path)


@SINKS.register("aws_sqs")
class AwsSqs(Sink):
    Config = SqsConfig
    max_batch = 10
    summary = "AWS SQS queue: the alert as the message body, `priority`/`rule`/`id` as attributes."
    example = """\
destinations:
  - name: sqs
    type: aws_sqs
    queue_url: https://sqs.us-east-1.amazonaws.com/123456789012/falco-alerts
"""

    def __init__(self, name: str, config: SqsConfig, common: Common) -> None:
        super().__init__(name, config, common)
        self.client = _aws.client("sqs", config, name)
        self.fifo = config.queue_url.endswith(".fifo")

    def build(self, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
        out = []
        for i, a in enumerate(alerts):
            aid = alert_id(a)
            entry: dict[str, Any] = {
                "Id": str(i), "MessageBody": encode(a, self.config.encoding).decode(),
                **_aws.message_fields(a.priority, a.rule, aid, self.fifo),
            }
            out.append(entry)
        return out

    def send(self, alerts: Sequence[Alert]) -> None:
        entries = self.build(alerts)

        def one(start: int, end: int) -> _aws.Failed:
            resp = _aws.call(self.name, self.client.send_message_batch, QueueUrl=self.config.queue_url,
                             Entries=entries[start:end])
            return _aws.batch_failures(resp, start)

        # SendMessageBatch: at most 10 entries and 256 KiB in all (bodies and attributes)
        _aws.send_chunked([len(e["MessageBody"].encode()) + 512 for e in entries], 262_144, 10, one)
