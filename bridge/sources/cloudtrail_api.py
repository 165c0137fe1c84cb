"""`type: cloudtrail_api`: LookupEvents backfill of management events for a time window and regions.

Each page is one Work (its records' `CloudTrailEvent` strings are the records, byte for byte),
checkpointed by its NextToken once ACKed, so a restart resumes at the next page. LookupEvents
allows 2 requests per second per region and account; each region's requests are spaced to that.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bridge.config import _where
from bridge.errors import ConfigError
from bridge.model import BadItem, Record
from bridge.normalize.stream import records_from_chunks
from bridge.sources import _aws
from bridge.sources._aws import AWS_EXCEPTIONS
from bridge.sources._base import SOURCES, Feed, Retry, SourceContext, Work
from bridge.sources.s3 import When, parse_time

log = logging.getLogger("ctbridge.sources.cloudtrail_api")


@dataclass(frozen=True, kw_only=True)
class CloudTrailApiConfig(_aws.AwsAccess):
    regions: list[str] = field(default_factory=list)  # default: the source's region
    since: When = "24h"  # RFC 3339 or a duration back from the start
    until: When | None = None  # default: the start
    rate: float = 2.0  # LookupEvents requests per second per region

    def validate(self, path: str) -> None:
        now = time.time()
        parse_time(self.since, f"{path}.since", now)
        if self.until is not None:
            parse_time(self.until, f"{path}.until", now)
        if not 0 < self.rate <= 2:
            raise ConfigError(f"{_where(path + '.rate')}: must be in (0, 2] (LookupEvents' limit), got {self.rate}")


class _Pacer:
    def __init__(self, rate: float) -> None:
        self._gap = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        with self._lock:
            now = time.monotonic()
            delay = max(0.0, self._next - now)
            self._next = max(now, self._next) + self._gap
        if delay:
            stop.wait(delay)


@SOURCES.register("cloudtrail_api")
class CloudTrailApiSource:
    Config = CloudTrailApiConfig

    def __init__(self, name: str, config: CloudTrailApiConfig, ctx: SourceContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        now = time.time()
        self.since = parse_time(config.since, "since", now)
        self.until = parse_time(config.until, "until", now) if config.until else now
        self.regions = list(config.regions) or [config.region or "us-east-1"]
        self._clients: dict[str, Any] = {}
        self._ok, self._detail = False, "not called yet"

    def _client(self, region: str) -> Any:
        if region not in self._clients:
            access = _aws.AwsAccess(region=region, endpoint_url=self.config.endpoint_url,
                                    assume_role=self.config.assume_role, max_attempts=self.config.max_attempts)
            self._clients[region] = _aws.client(access, "cloudtrail")
        return self._clients[region]

    def check(self) -> str:
        for region in self.regions:
            try:
                self._client(region).lookup_events(MaxResults=1, StartTime=_dt(self.since), EndTime=_dt(self.until))
            except AWS_EXCEPTIONS as e:
                _aws.count(self.name, e)
                raise Retry(f"cloudtrail {region}: LookupEvents failed: {_aws.describe(e)}") from None
        return f"LookupEvents allowed in {', '.join(self.regions)}"

    def ready(self) -> tuple[bool, str]:
        return self._ok, self._detail

    def run(self, feed: Feed) -> None:
        for region in self.regions:
            self._region(region, feed)

    def _cursor(self, region: str) -> str:
        return f"cloudtrail_api:{self.name}:{region}:{self.since:.0f}-{self.until:.0f}"

    def _region(self, region: str, feed: Feed) -> None:
        pacer = _Pacer(self.config.rate)
        token = self.ctx.checkpoints.cursor(self._cursor(region))
        if token == "done":
            return
        page_no = 0
        attempt = 0
        while not self.ctx.stop.is_set():
            pacer.wait(self.ctx.stop)
            kwargs: dict[str, Any] = {"StartTime": _dt(self.since), "EndTime": _dt(self.until), "MaxResults": 50}
            if token:
                kwargs["NextToken"] = token
            try:
                resp = self._client(region).lookup_events(**kwargs)
                self._ok, self._detail = True, f"LookupEvents in {region}"
                attempt = 0
            except AWS_EXCEPTIONS as e:
                code = _aws.count(self.name, e)
                self._ok, self._detail = False, f"{region}: {code}"
                attempt += 1
                self.ctx.stop.wait(_aws.backoff(attempt))
                continue
            nxt = resp.get("NextToken")
            events = resp.get("Events", [])
            page_no += 1
            origin = f"cloudtrail-api://{region}/page{page_no}"
            cursor, value = self._cursor(region), nxt or "done"
            feed.put(self._page(origin, events, cursor, value))
            if not nxt:
                return
            token = nxt


    def _page(self, origin: str, events: list[dict[str, Any]], cursor: str, value: str) -> Work:
        def done() -> None:
            self.ctx.checkpoints.set_cursor(cursor, value)

        return Work(key=origin, source=self.name, items=lambda: _records(origin, events), checkpointed=False,
                    on_done=done)


def _records(origin: str, events: list[dict[str, Any]]) -> Iterator[Record | BadItem]:
    for i, ev in enumerate(events):
        raw = ev.get("CloudTrailEvent")
        where = f"{origin}#{i}"
        if not isinstance(raw, str):
            yield BadItem(where, f"{where}: event {ev.get('EventId')} has no CloudTrailEvent string")
            continue
        # The string is the record as CloudTrail wrote it: split as a one-record log file.
        for item in records_from_chunks(where, [b'{"Records":[' + raw.encode("utf-8", "surrogatepass") + b"]}"]):
            yield item


def _dt(t: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, datetime.UTC)
