"""AWS SNS: one message per alert (PublishBatch, up to 10), with message attributes to filter on."""

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


def _subject(text: str) -> str:
    """SNS subjects: printable ASCII, no line breaks, under 100 characters, starting with a letter,
    digit or punctuation mark; anything else in a rule name would make SNS refuse the message."""
    clean = "".join(c if " " <= c <= "~" else " " if c < " " else "?" for c in text).strip()[:99]
    return clean or "Falco alert"


@dataclass(frozen=True, kw_only=True)
class SnsConfig(AwsOptions):
    topic_arn: str = field(metadata={"doc": "topic to publish to (a .fifo topic gets group and dedup ids)"})
    encoding: str = field(default="falco", metadata={"doc": "falco or ocsf"})

    def validate(self, path: str) -> None:
        check_encoding(self.encoding, path)


@SINKS.register("aws_sns")
class AwsSns(Sink):
    Config = SnsConfig
    max_batch = 10
    summary = ("AWS SNS topic: the alert as the message body; `priority`, `rule`, `source` and `id` as "
               "message attributes for subscription filters. FIFO topics de-duplicate on the alert id.")
    example = """\
destinations:
  - name: sns
    type: aws_sns
    topic_arn: arn:aws:sns:us-east-1:123456789012:falco-alerts
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/ctbridge-publisher   # optional
"""

    def __init__(self, name: str, config: SnsConfig, common: Common) -> None:
        super().__init__(name, config, common)
        self.client = _aws.client("sns", config, name)
        self.fifo = config.topic_arn.endswith(".fifo")

    def build(self, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
        out = []
        for i, a in enumerate(alerts):
            aid = alert_id(a)
            entry: dict[str, Any] = {
                "Id": str(i), "Message": encode(a, self.config.encoding).decode(),
                "Subject": _subject(f"{a.priority}: {a.rule}"),
                **_aws.message_fields(a.priority, a.rule, aid, self.fifo, ("source", a.source)),
            }
            out.append(entry)
        return out

    def send(self, alerts: Sequence[Alert]) -> None:
        entries = self.build(alerts)

        def one(start: int, end: int) -> _aws.Failed:
            resp = _aws.call(self.name, self.client.publish_batch, TopicArn=self.config.topic_arn,
                             PublishBatchRequestEntries=entries[start:end])
            return _aws.batch_failures(resp, start)

        # PublishBatch: at most 10 entries and 256 KiB in all (messages and attributes)
        _aws.send_chunked([len(e["Message"].encode()) + 512 for e in entries], 262_144, 10, one)
