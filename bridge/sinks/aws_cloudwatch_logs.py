"""CloudWatch Logs: PutLogEvents in batches; the group and stream are created when missing."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.model import Alert
from bridge.sinks import _aws
from bridge.sinks._aws import AwsOptions
from bridge.sinks._base import SINKS, Common, PartialFailure, Retryable, Sink
from bridge.sinks._encoding import check_encoding, encode
from bridge.sinks._ocsf import epoch_ms


@dataclass(frozen=True, kw_only=True)
class CloudWatchLogsConfig(AwsOptions):
    log_group: str = field(metadata={"doc": "log group (created if missing and allowed)"})
    log_stream: str = field(default="ctbridge", metadata={"doc": "log stream (created if missing)"})
    create: bool = field(default=True, metadata={"doc": "create the group and stream when missing"})
    encoding: str = field(default="falco", metadata={"doc": "falco or ocsf"})

    def validate(self, path: str) -> None:
        check_encoding(self.encoding, path)


@SINKS.register("aws_cloudwatch_logs")
class AwsCloudWatchLogs(Sink):
    Config = CloudWatchLogsConfig
    max_batch = 500
    summary = ("CloudWatch Logs: batched PutLogEvents (events ordered by time, the alert JSON as the "
               "message); the group and stream are created when missing, a sequence-token error is retried.")
    example = """\
destinations:
  - name: cwl
    type: aws_cloudwatch_logs
    log_group: /falco/alerts
    log_stream: cluster-a
    batch: {max_events: 500, interval: 5}
"""

    def __init__(self, name: str, config: CloudWatchLogsConfig, common: Common) -> None:
        super().__init__(name, config, common)
        self.client = _aws.client("logs", config, name)
        self.ready = False

    def build(self, alerts: Sequence[Alert], now_ms: int | None = None) -> list[dict[str, Any]]:
        now = now_ms or int(time.time() * 1000)
        events: list[dict[str, Any]] = [{"timestamp": epoch_ms(a.time) or now, "message": encode(a, self.config.encoding).decode()}
                  for a in alerts]
        # PutLogEvents wants chronological order; events older than 14 days are refused, so the
        # alert's own time is used only when it is recent (a CloudTrail replay can be months old).
        for e in events:
            if not now - 14 * 86400_000 < e["timestamp"] <= now + 2 * 3600_000:
                e["timestamp"] = now
        return events

    def _ensure(self) -> None:
        if self.ready or not self.config.create:
            return
        c = self.config
        for fn, kw in ((self.client.create_log_group, {"logGroupName": c.log_group}),
                       (self.client.create_log_stream, {"logGroupName": c.log_group, "logStreamName": c.log_stream})):
            try:
                _aws.call(self.name, fn, **kw)
            except Exception as e:
                if "ResourceAlreadyExists" not in str(e):
                    raise
        self.ready = True

    def send(self, alerts: Sequence[Alert]) -> None:
        self._ensure()
        events = self.build(alerts)
        # PutLogEvents: at most 1 MiB per call, counting 26 bytes per event; events sorted by time
        # are sent in order, chunk by chunk. A retried batch may repeat chunks already stored.
        order = sorted(range(len(alerts)), key=lambda i: events[i]["timestamp"])
        ordered = [events[i] for i in order]

        def one(start: int, end: int) -> _aws.Failed:
            self._put(ordered[start:end])
            return []

        try:
            _aws.send_chunked([len(e["message"].encode()) + 26 for e in ordered], 1_048_576, 10_000, one)
        except PartialFailure as e:  # indexes are in time order: map them back to the batch's
            raise PartialFailure({order[i]: r for i, r in e.retryable.items()},
                                 {order[i]: r for i, r in e.permanent.items()}) from None

    def _put(self, events: list[dict[str, Any]]) -> None:
        try:
            _aws.call(self.name, self.client.put_log_events, logGroupName=self.config.log_group,
                      logStreamName=self.config.log_stream, logEvents=events)
        except Exception as e:
            text = str(e)
            if "DataAlreadyAccepted" in text:
                return  # this very batch was stored by an earlier attempt
            if "InvalidSequenceToken" in text:
                raise Retryable(f"{self.name}: sequence token out of date") from None
            if "ResourceNotFound" in text:
                self.ready = False  # deleted under us: recreate on the next attempt
                raise Retryable(f"{self.name}: {text}") from None
            raise
