"""Amazon EventBridge: PutEvents, one event per alert, detail-type per rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.model import Alert
from bridge.route.template import Template
from bridge.sinks import _aws
from bridge.sinks._aws import AwsOptions
from bridge.sinks._base import SINKS, Common, Sink
from bridge.sinks._encoding import check_encoding, encode

RETRYABLE = {"ThrottlingException", "InternalFailure", "InternalException"}


@dataclass(frozen=True, kw_only=True)
class EventBridgeConfig(AwsOptions):
    event_bus: str = field(default="default", metadata={"doc": "bus name or ARN"})
    source: str = field(default="ctbridge.falco", metadata={"doc": "event `source` (must not start with aws.)"})
    detail_type: str = field(default="{rule}", metadata={"doc": "template for `detail-type`; default the rule name"})
    encoding: str = field(default="falco", metadata={"doc": "detail as falco JSON or ocsf"})

    def validate(self, path: str) -> None:
        check_encoding(self.encoding, path)


@SINKS.register("aws_eventbridge")
class AwsEventBridge(Sink):
    Config = EventBridgeConfig
    max_batch = 10
    summary = ("Amazon EventBridge: one event per alert on a bus, `detail-type` = the rule name (so "
               "EventBridge rules can route per Falco rule), `detail` = the alert.")
    example = """\
destinations:
  - name: bus
    type: aws_eventbridge
    event_bus: security
    region: us-east-1
# an EventBridge rule then matches {"source": ["ctbridge.falco"], "detail-type": ["Delete Bucket Encryption"]}
"""

    def __init__(self, name: str, config: EventBridgeConfig, common: Common) -> None:
        super().__init__(name, config, common)
        self.client = _aws.client("events", config, name)
        self.detail_type = Template(config.detail_type)

    def build(self, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
        return [{"Source": self.config.source, "DetailType": self.detail_type.render(a)[:128] or "Falco alert",
                 "Detail": encode(a, self.config.encoding).decode(), "EventBusName": self.config.event_bus}
                for a in alerts]

    def send(self, alerts: Sequence[Alert]) -> None:
        entries = self.build(alerts)

        def one(start: int, end: int) -> _aws.Failed:
            resp = _aws.call(self.name, self.client.put_events, Entries=entries[start:end])
            if not resp.get("FailedEntryCount"):
                return []
            return [(i, f"{e.get('ErrorCode')}: {e.get('ErrorMessage', '')}", e.get("ErrorCode") in RETRYABLE)
                    for i, e in enumerate(resp.get("Entries", [])) if e.get("ErrorCode")]

        # PutEvents: at most 10 entries and 256 KiB in all
        sizes = [len(e["Detail"].encode()) + len(e["DetailType"]) + len(e["Source"]) + 64 for e in entries]
        _aws.send_chunked(sizes, 262_144, 10, one)
