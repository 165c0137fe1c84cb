"""Remote inputs for `ctbridge replay`: s3://BUCKET/PREFIX and cloudtrail-api://REGION.

A replay is a one-off investigation: the daemon's sources are used once (list, read, stop),
without checkpoints (an in-memory state), and their records are yielded in order.

- s3://BUCKET[/TRAIL-PREFIX]: the trail layout below the prefix (AWSLogs/[o-ORG/]ACCOUNT/...),
  filtered by --account, --region and the [--since, --until) window;
- s3://BUCKET/AWSLogs/.../ (any prefix inside the layout): every CloudTrail file below it;
- cloudtrail-api://REGION: LookupEvents for the window.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.deliver.checkpoints import Checkpoints
from bridge.deliver.packed import Packed
from bridge.errors import ConfigError
from bridge.model import BadItem, Record
from bridge.normalize.quarantine import Quarantine
from bridge.sources import _aws
from bridge.sources._aws import AWS_EXCEPTIONS
from bridge.sources._base import Retry, SourceContext, Work
from bridge.sources.cloudtrail_api import CloudTrailApiConfig, CloudTrailApiSource
from bridge.sources.s3 import DIGEST, FILE_NAME, S3Config, S3Source, parse_time, read_object

SCHEMES = ("s3://", "cloudtrail-api://")
_RETRIES = 3


@dataclass(frozen=True)
class Window:
    since: str = "24h"
    until: str | None = None
    accounts: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)


def is_remote(path: str) -> bool:
    return path.startswith(SCHEMES)


def check(path: str, window: Window) -> None:
    """A bad URL or window is a ConfigError before anything runs."""
    now = time.time()
    parse_time(window.since, "--since", now)
    if window.until:
        parse_time(window.until, "--until", now)
    if path.startswith("s3://"):
        bucket = path[5:].split("/", 1)[0]
        if not bucket:
            raise ConfigError(f"input {path!r}: expected s3://BUCKET/PREFIX")
    elif path.startswith("cloudtrail-api://"):
        if not path[len("cloudtrail-api://"):].strip("/"):
            raise ConfigError(f"input {path!r}: expected cloudtrail-api://REGION, e.g. cloudtrail-api://us-east-1")


class _Feed:
    def __init__(self, stop: threading.Event) -> None:
        self.q: queue.Queue[Work | None] = queue.Queue(16)
        self.stop = stop

    def put(self, work: Work) -> None:
        self.q.put(work)


def records(path: str, window: Window, quarantine: Quarantine) -> Iterator[Record | BadItem]:
    check(path, window)
    stop = threading.Event()
    ctx = SourceContext(checkpoints=Checkpoints(":memory:"), quarantine=quarantine, stop=stop)
    until = window.until or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    source: Any
    if path.startswith("cloudtrail-api://"):
        region = path[len("cloudtrail-api://"):].strip("/")
        source = CloudTrailApiSource(path, CloudTrailApiConfig(region=region, regions=[region], since=window.since,
                                                               until=until), ctx)
    else:
        bucket, _, prefix = path[5:].partition("/")
        inside = "AWSLogs/" in prefix and not prefix.rstrip("/").endswith("AWSLogs")
        if inside:
            yield from _flat(bucket, prefix, window, until, quarantine)
            return
        source = S3Source(path, S3Config(bucket=bucket, prefix=prefix, accounts=window.accounts,
                                         regions=window.regions, since=window.since, until=until, once=True,
                                         late_files="1h"), ctx)
    feed = _Feed(stop)
    error: list[BaseException] = []

    def produce() -> None:
        try:
            source.run(feed)
        except BaseException as e:  # re-raised in the consumer
            error.append(e)
        finally:
            feed.q.put(None)

    threading.Thread(target=produce, name=f"replay-{path}", daemon=True).start()
    try:
        while (work := feed.q.get()) is not None:
            yield from _read(work, ctx.checkpoints)
    finally:
        stop.set()
    if error:
        raise error[0]


def _read(work: Work, checkpoints: Checkpoints | None = None) -> Iterator[Record | BadItem]:
    """A Work's items; after a Retry it is read again, skipping what was already yielded."""
    done = 0
    for attempt in range(_RETRIES):
        try:
            for n, item in enumerate(_records(work.items()), 1):
                if n > done:
                    done = n
                    yield item
            _finish(work, checkpoints, done)
            return
        except Retry as e:
            if attempt == _RETRIES - 1:
                yield BadItem(work.key, f"{work.key}: {e} (gave up after {_RETRIES} attempts)")
                _finish(work, checkpoints, done)
                return
            time.sleep(_aws.backoff(attempt))


def _records(items: Iterable[Record | BadItem | Packed]) -> Iterator[Record | BadItem]:
    """Replay takes Records: a Packed object (read whole, split as bytes) is turned back into them."""
    for item in items:
        if isinstance(item, Packed):
            yield from item.bad
            yield from item.records()
        else:
            yield item


def _finish(work: Work, checkpoints: Checkpoints | None, done: int) -> None:
    """Replay's checkpoints live in memory for the run: they stop the source listing it again."""
    if checkpoints is not None and work.checkpointed:
        checkpoints.advance(work.key, done, complete=True)
    if work.on_done is not None:
        work.on_done()


def _flat(bucket: str, prefix: str, window: Window, until: str, quarantine: Quarantine) -> Iterator[Record | BadItem]:
    access = _aws.AwsAccess()
    s3 = _aws.client(access, "s3")
    now = time.time()
    lo, hi = parse_time(window.since, "--since", now), parse_time(until, "--until", now)
    try:
        pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix))
    except AWS_EXCEPTIONS as e:
        raise ConfigError(f"s3://{bucket}/{prefix}: cannot list: {_aws.describe(e)}") from None
    for page in pages:
        for obj in page.get("Contents", []):
            key = obj["Key"]
            name = key.rsplit("/", 1)[-1]
            m = FILE_NAME.match(name)
            if f"/{DIGEST}/" in key or m is None or m.group("insight"):
                continue
            if window.accounts and m.group("account") not in window.accounts:
                continue
            if window.regions and m.group("region") not in window.regions:
                continue
            for item in _read(_object_work(s3, bucket, key)):
                if isinstance(item, Record) and not int(lo * 1e9) <= item.ts_ns < int(hi * 1e9):
                    continue
                yield item


def _object_work(s3: Any, bucket: str, key: str) -> Work:
    return Work(key=f"s3://{bucket}/{key}", source="replay", items=lambda: read_object(s3, bucket, key, "replay"))


def iter_inputs(paths: Sequence[str], window: Window, quarantine: Quarantine,
                local: Any) -> Iterator[Record | BadItem]:
    """Every input in order: local paths through `local(paths)`, remote ones through their source."""
    batch: list[str] = []
    for p in paths:
        if is_remote(p):
            if batch:
                yield from local(batch)
                batch = []
            yield from records(p, window, quarantine)
        else:
            batch.append(p)
    if batch:
        yield from local(batch)
