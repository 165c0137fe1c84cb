"""`type: cloudwatch_logs`: a log group a trail delivers to, read with FilterLogEvents.

Each page is one Work; once ACKed, the newest event time of the page becomes the group's cursor.
A poll starts at the cursor minus `late_events` (CloudWatch Logs can ingest events out of order);
events read twice that way are dropped by the eventID dedup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bridge.model import BadItem, Record
from bridge.normalize.stream import records_from_chunks
from bridge.sources import _aws
from bridge.sources._aws import AWS_EXCEPTIONS
from bridge.sources._base import SOURCES, Feed, Retry, SourceContext, Work
from bridge.sources._config import parse_duration
from bridge.sources.s3 import When, parse_time

log = logging.getLogger("ctbridge.sources.cloudwatch_logs")


@dataclass(frozen=True, kw_only=True)
class CloudWatchLogsConfig(_aws.AwsAccess):
    log_group: str
    log_stream_prefix: str | None = None
    since: When = "1h"  # where to start without a checkpoint
    late_events: str = "5m"
    poll_interval: float = 30.0
    once: bool = False
    filter_pattern: str = ""  # passed to FilterLogEvents as is ("" = every event)

    def validate(self, path: str) -> None:
        parse_time(self.since, f"{path}.since", time.time())
        parse_duration(self.late_events, f"{path}.late_events")


@SOURCES.register("cloudwatch_logs")
class CloudWatchLogsSource:
    Config = CloudWatchLogsConfig

    def __init__(self, name: str, config: CloudWatchLogsConfig, ctx: SourceContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.since_ms = int(parse_time(config.since, "since", time.time()) * 1000)
        self.late_ms = int(parse_duration(config.late_events, "late_events") * 1000)
        self._logs: Any = None
        self._ok, self._detail = False, "not polled yet"
        self._newest = 0

    @property
    def logs(self) -> Any:
        if self._logs is None:
            self._logs = _aws.client(self.config, "logs")
        return self._logs

    def check(self) -> str:
        try:
            groups = self.logs.describe_log_groups(logGroupNamePrefix=self.config.log_group)["logGroups"]
        except AWS_EXCEPTIONS as e:
            _aws.count(self.name, e)
            raise Retry(f"log group {self.config.log_group}: {_aws.describe(e)}") from None
        if not any(g["logGroupName"] == self.config.log_group for g in groups):
            raise Retry(f"log group {self.config.log_group}: not found")
        return f"log group {self.config.log_group}: found"

    def ready(self) -> tuple[bool, str]:
        return self._ok, self._detail

    def _cursor_name(self) -> str:
        return f"cloudwatch_logs:{self.name}:{self.config.log_group}"

    def run(self, feed: Feed) -> None:
        attempt = 0
        while not self.ctx.stop.is_set():
            saved = self.ctx.checkpoints.cursor(self._cursor_name())
            start = max(self.since_ms, int(saved) - self.late_ms) if saved else self.since_ms
            kwargs: dict[str, Any] = {"logGroupName": self.config.log_group, "startTime": start}
            if self.config.log_stream_prefix:
                kwargs["logStreamNamePrefix"] = self.config.log_stream_prefix
            if self.config.filter_pattern:
                kwargs["filterPattern"] = self.config.filter_pattern
            try:
                page_no = 0
                while True:
                    resp = self.logs.filter_log_events(**kwargs)
                    events = resp.get("events", [])
                    if events:
                        page_no += 1
                        feed.put(self._page(f"cloudwatch-logs://{self.config.log_group}/{start}/p{page_no}", events))
                    token = resp.get("nextToken")
                    if not token or self.ctx.stop.is_set():
                        break
                    kwargs["nextToken"] = token
                self._ok, self._detail = True, f"log group {self.config.log_group} read"
                attempt = 0
            except AWS_EXCEPTIONS as e:
                code = _aws.count(self.name, e)
                self._ok, self._detail = False, f"{self.config.log_group}: {code}"
                attempt += 1
                self.ctx.stop.wait(_aws.backoff(attempt))
                continue
            if self.config.once:
                return
            self.ctx.stop.wait(self.config.poll_interval)

    def _page(self, origin: str, events: list[dict[str, Any]]) -> Work:
        newest = max(int(e.get("timestamp", 0)) for e in events)

        def done() -> None:
            self._newest = max(self._newest, newest)
            self.ctx.checkpoints.set_cursor(self._cursor_name(), str(self._newest))

        return Work(key=origin, source=self.name, items=lambda: _records(origin, events), checkpointed=False,
                    on_done=done, newest_ts=newest / 1000)


def _records(origin: str, events: list[dict[str, Any]]) -> Iterator[Record | BadItem]:
    for i, ev in enumerate(events):
        where = f"{origin}#{i}"
        msg = ev.get("message")
        if not isinstance(msg, str):
            yield BadItem(where, f"{where}: log event {ev.get('eventId')} has no message")
            continue
        yield from records_from_chunks(where, [b'{"Records":[' + msg.encode("utf-8", "surrogatepass") + b"]}"])
