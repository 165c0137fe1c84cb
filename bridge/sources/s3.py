"""`type: s3`: CloudTrail log files in a bucket, organization-trail or per-account layout.

    PREFIX/AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_X.json.gz

Discovery lists the organization, account and region levels with a delimiter (again every
`rediscover` seconds, for new accounts). Each poll then lists, per account and region, only the
day prefixes from the stream's cursor minus `late_files` up to today, with StartAfter: the cursor
is the time before which every file is done, so a late file (named by an earlier time than files
already read) is still listed, and a file marked complete in the checkpoints is never read twice.

CloudTrail-Digest folders are not read (counted as skipped); CloudTrail-Insight folders only with
`insights: true`. Objects are streamed (ranged reads of 1 MiB, gunzip and split on the fly).
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bridge.config import _where
from bridge.deliver.packed import Packed, pack_blob, within
from bridge.errors import ConfigError
from bridge.model import BadItem, Record
from bridge.normalize.stream import CHUNK, records_from_chunks
from bridge.sources import _aws
from bridge.sources._aws import AWS_EXCEPTIONS, AssumeRole
from bridge.sources._base import SOURCES, Feed, Retry, SourceContext, Work
from bridge.sources._config import parse_duration
from bridge.sources._metrics import OBJECTS_SKIPPED, RECORDS_QUARANTINED

log = logging.getLogger("ctbridge.sources.s3")

PACK_BYTES = 4 << 20  # objects up to this size (gzip'd) are read whole and split as bytes

FILE_NAME = re.compile(
    r"^(?P<account>\d{12})_CloudTrail(?P<insight>-Insight)?_(?P<region>[a-z0-9-]+)_"
    r"(?P<time>\d{8}T\d{4}Z)_[A-Za-z0-9]+\.json(?:\.gz)?$"
)
DIGEST = "CloudTrail-Digest"
_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")
_DAY = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2})/\Z")


When = str | datetime.datetime  # YAML reads an unquoted 2024-05-01T00:00:00Z as a datetime


def parse_time(value: When, path: str, now: float) -> float:
    """RFC 3339 ('2024-05-01T00:00:00Z', '2024-05-01') or a duration back from now ('24h')."""
    if isinstance(value, datetime.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=datetime.UTC)).timestamp()
    if not isinstance(value, str):
        raise ConfigError(f"{_where(path)}: {value!r} is neither a time (2024-05-01T00:00:00Z) nor a "
                          "duration back from now (24h, 7d)")
    text = value.strip()
    try:
        return now - parse_duration(text, path)
    except ConfigError:
        pass
    try:
        dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{_where(path)}: {value!r} is neither a time (2024-05-01T00:00:00Z) nor a "
                          "duration back from now (24h, 7d)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.UTC)
    return dt.timestamp()


def file_time(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=datetime.UTC).timestamp()


def _stamp(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y%m%dT%H%MZ")


def _is_day(text: str) -> bool:
    """Whether text is a day prefix YYYY/MM/DD/ of a date that exists."""
    m = _DAY.match(text)
    if m is None:
        return False
    try:
        datetime.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return False
    return True


def _day(t: float) -> datetime.date:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).date()


@dataclass(frozen=True, kw_only=True)
class S3Config(_aws.AwsAccess):
    bucket: str
    prefix: str = ""  # the trail's S3 key prefix (the part before AWSLogs/)
    accounts: list[str] = field(default_factory=list)  # only these accounts (default: all found)
    regions: list[str] = field(default_factory=list)  # only these regions (default: all found)
    since: When = "1h"  # files from this time on: RFC 3339 or a duration back from the start
    until: When | None = None  # and before this time (records outside [since, until) are dropped)
    insights: bool = False  # also CloudTrail Insights files
    poll_interval: float = 60.0
    late_files: str = "1h"  # how late a file may appear after files named by a later time
    rediscover: float = 600.0  # seconds between listings of the account and region levels
    once: bool = False  # list once, read what is there, stop (replay, backfills)

    def validate(self, path: str) -> None:
        if not self.bucket or "/" in self.bucket:
            raise ConfigError(f"{_where(path + '.bucket')}: {self.bucket!r} is not a bucket name")
        for a in self.accounts:
            if not _ACCOUNT.match(a):
                raise ConfigError(f"{_where(path + '.accounts')}: {a!r} is not a 12-digit account ID")
        now = time.time()
        parse_time(self.since, f"{path}.since", now)
        if self.until is not None:
            parse_time(self.until, f"{path}.until", now)
        parse_duration(self.late_files, f"{path}.late_files")
        if self.poll_interval <= 0:
            raise ConfigError(f"{_where(path + '.poll_interval')}: must be > 0")


@dataclass
class _Stream:
    """One account + region (+ Insight or not): its files live under day prefixes."""

    prefix: str  # .../ACCOUNT/CloudTrail/REGION/
    account: str
    region: str
    kind: str  # CloudTrail or CloudTrail-Insight
    inflight: dict[str, float] = field(default_factory=dict)  # key -> file time, handed out, not done
    listed_max: float = 0.0


def _base(prefix: str) -> str:
    p = prefix.strip("/")
    if p.endswith("AWSLogs") or p == "AWSLogs":
        return p + "/"
    return f"{p}/AWSLogs/" if p else "AWSLogs/"


@SOURCES.register("s3")
class S3Source:
    Config = S3Config

    def __init__(self, name: str, config: S3Config, ctx: SourceContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.base = _base(config.prefix)
        now = time.time()
        self.since = parse_time(config.since, "since", now)
        self.until = parse_time(config.until, "until", now) if config.until else None
        self.late = parse_duration(config.late_files, "late_files")
        self._s3: Any = None
        self._streams: dict[str, _Stream] = {}
        self._retry: dict[str, _Stream] = {}
        self._lock = threading.Lock()
        self._ok, self._detail = False, "not polled yet"
        self.listed = 0

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = _aws.client(self.config, "s3")
        return self._s3

    # -- DaemonSource ------------------------------------------------------------------------

    def check(self) -> str:
        try:
            self.s3.list_objects_v2(Bucket=self.config.bucket, Prefix=self.base, MaxKeys=1)
            streams = self._discover()
        except AWS_EXCEPTIONS as e:
            _aws.count(self.name, e)
            raise Retry(f"s3://{self.config.bucket}/{self.base}: cannot list: {_aws.describe(e)}") from None
        accounts = sorted({s.account for s in streams})
        regions = sorted({s.region for s in streams})
        return (f"s3://{self.config.bucket}/{self.base}: listed; {len(accounts)} accounts, "
                f"{len(regions)} regions ({', '.join(regions[:8])}{'...' if len(regions) > 8 else ''})")

    def ready(self) -> tuple[bool, str]:
        return self._ok, self._detail

    def run(self, feed: Feed) -> None:
        last_discovery = -1e18
        attempt = 0
        listed = False
        while not self.ctx.stop.is_set():
            try:
                if time.monotonic() - last_discovery > self.config.rediscover:
                    for s in self._discover():
                        self._streams.setdefault(s.prefix, s)
                    last_discovery = time.monotonic()
                if self.config.once and listed:
                    self._requeue(feed)  # one listing; afterwards only what must be read again
                else:
                    self._poll(feed)
                    listed = True
                self._ok, self._detail = True, f"s3://{self.config.bucket}/{self.base} listed"
                attempt = 0
            except AWS_EXCEPTIONS as e:
                code = _aws.count(self.name, e)
                self._ok, self._detail = False, f"s3://{self.config.bucket}: {code}"
                log.warning("%s: listing s3://%s/%s failed: %s", self.name, self.config.bucket, self.base,
                            _aws.describe(e))
                attempt += 1
                self.ctx.stop.wait(_aws.backoff(attempt))
                continue
            if self.config.once and self._settled():
                return
            self.ctx.stop.wait(min(self.config.poll_interval, 1.0) if self.config.once else self.config.poll_interval)

    def _settled(self) -> bool:
        """once: done when every object handed out is complete (none to read again)."""
        with self._lock:
            return not self._retry and not any(s.inflight for s in self._streams.values())

    # -- listing -----------------------------------------------------------------------------

    def _dirs(self, prefix: str) -> list[str]:
        out: list[str] = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.config.bucket, Prefix=prefix, Delimiter="/")
        for page in pages:
            for cp in page.get("CommonPrefixes", []):
                out.append(cp["Prefix"][len(prefix):].rstrip("/"))
        return out

    def _discover(self) -> list[_Stream]:
        accounts: list[str] = []  # prefixes ending in ACCOUNT/
        for top in self._dirs(self.base):
            if _ORG.match(top):
                accounts += [f"{self.base}{top}/{a}/" for a in self._dirs(f"{self.base}{top}/") if _ACCOUNT.match(a)]
            elif _ACCOUNT.match(top):
                accounts.append(f"{self.base}{top}/")
        streams: list[_Stream] = []
        for acct_prefix in accounts:
            account = acct_prefix.rstrip("/").rsplit("/", 1)[1]
            if self.config.accounts and account not in self.config.accounts:
                continue
            for kind in self._dirs(acct_prefix):
                if kind == DIGEST:
                    OBJECTS_SKIPPED.labels(source=self.name, reason="digest_folder").inc()
                    continue
                if kind not in ("CloudTrail", "CloudTrail-Insight"):
                    continue
                if kind == "CloudTrail-Insight" and not self.config.insights:
                    OBJECTS_SKIPPED.labels(source=self.name, reason="insight_folder").inc()
                    continue
                for region in self._dirs(f"{acct_prefix}{kind}/"):
                    if self.config.regions and region not in self.config.regions:
                        continue
                    streams.append(_Stream(f"{acct_prefix}{kind}/{region}/", account, region, kind))
        return streams

    def _cursor_name(self, stream: _Stream) -> str:
        return f"s3:{self.name}:{self.config.bucket}/{stream.prefix}"

    def _requeue(self, feed: Feed) -> None:
        with self._lock:
            retry = list(self._retry.items())
            self._retry.clear()
        for key, stream in retry:
            feed.put(self._work(key, stream, stream.inflight.get(key, time.time())))

    def _poll(self, feed: Feed) -> None:
        self._requeue(feed)
        now = time.time()
        end = min(now, self.until) if self.until is not None else now
        for stream in list(self._streams.values()):
            if self.ctx.stop.is_set():
                return
            saved = self.ctx.checkpoints.cursor(self._cursor_name(stream))
            cursor = max(float(saved) if saved else self.since, stream.listed_max - self.late)
            start = max(self.since, cursor - self.late)
            self._list_days(stream, start, end, feed)

    def _list_days(self, stream: _Stream, start: float, end: float, feed: Feed) -> None:
        """The objects in the day prefixes YYYY/MM/DD/ from start's day to end's day, the first
        after the name of a file at `start`: one listing of the stream's prefix from there (keys
        come in order, days included), ended at the first key past end's day, rather than one
        listing per day (a backfill over weeks of mostly empty days cost a request each)."""
        first, last = f"{_day(start):%Y/%m/%d}/", f"{_day(end):%Y/%m/%d}/"
        after = f"{stream.prefix}{first}{stream.account}_{stream.kind}_{stream.region}_{_stamp(start)}"
        skip = len(stream.prefix)
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.config.bucket, Prefix=stream.prefix, StartAfter=after)
        for page in pages:
            for obj in page.get("Contents", []):
                key = obj["Key"]
                day = key[skip:skip + 11]
                if day > last:
                    return  # past the last day: later keys are too
                if not _is_day(day):
                    continue  # not in a day prefix: a listing per day would not have seen it
                self.listed += 1
                name = key.rsplit("/", 1)[1]
                m = FILE_NAME.match(name)
                if m is None:
                    self._not_cloudtrail(key, obj.get("Size", 0))
                    continue
                t = file_time(m.group("time"))
                if t < self.since - self.late or (self.until is not None and t > self.until + self.late):
                    continue
                with self._lock:
                    if key in stream.inflight:
                        continue
                if self.ctx.checkpoints.is_complete(self._key(key)):
                    continue
                with self._lock:
                    stream.inflight[key] = t
                    stream.listed_max = max(stream.listed_max, t)
                feed.put(self._work(key, stream, t))

    def _not_cloudtrail(self, key: str, size: int) -> None:
        ck = self._key(key)
        if self.ctx.checkpoints.is_complete(ck):
            return
        RECORDS_QUARANTINED.labels(source=self.name).inc()
        self.ctx.quarantine.put(BadItem(ck, f"{ck}: not a CloudTrail log file name "
                                        f"(ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_ID.json.gz); {size} bytes, "
                                        "not read"))
        self.ctx.checkpoints.advance(ck, 0, complete=True)

    def _key(self, key: str) -> str:
        return f"s3://{self.config.bucket}/{key}"

    # -- reading -----------------------------------------------------------------------------

    def _work(self, key: str, stream: _Stream, t: float) -> Work:
        def done() -> None:
            with self._lock:
                stream.inflight.pop(key, None)
                self._retry.pop(key, None)
                safe = min(stream.inflight.values()) if stream.inflight else stream.listed_max
            self.ctx.checkpoints.set_cursor(self._cursor_name(stream), repr(safe))

        def abandon(reason: str) -> None:
            with self._lock:
                self._retry[key] = stream

        return Work(key=self._key(key), source=self.name, items=lambda: self.read(key),
                    on_done=done, on_abandon=abandon, newest_ts=t)

    def read(self, key: str) -> Iterator[Record | BadItem | Packed]:
        items = read_object(self.s3, self.config.bucket, key, self.name)
        if self.until is None:
            yield from items
            return
        lo, hi = int(self.since * 1e9), int(self.until * 1e9)
        for item in items:
            if isinstance(item, Packed):
                yield within(item, lo, hi)
                continue
            if isinstance(item, Record) and not lo <= item.ts_ns < hi:
                continue
            yield item


_GONE = ("NoSuchKey", "404", "NoSuchBucket")


def read_object(s3: Any, bucket: str, key: str, source: str) -> Iterator[Record | BadItem | Packed]:
    """The records of one object. An object of at most PACK_BYTES that CloudTrail wrote is one
    Packed (read whole, split as bytes: bridge.deliver.packed); anything else is streamed as
    Records. A missing object is a BadItem; any other AWS or network error is Retry (read it
    again later)."""
    name = f"s3://{bucket}/{key}"
    try:
        resp = s3.get_object(Bucket=bucket, Key=key)
    except AWS_EXCEPTIONS as e:
        code = _aws.count(source, e)
        if code in _GONE:
            yield BadItem(name, f"{name}: cannot read: {_aws.describe(e)}")
            return
        raise Retry(f"{name}: {_aws.describe(e)}") from None
    body = resp["Body"]
    try:
        if int(resp.get("ContentLength") or PACK_BYTES + 1) <= PACK_BYTES:
            raw = b"".join(_chunks(body, name, source))
            packed = pack_blob(name, raw)
            if packed is not None:
                yield packed
            else:
                yield from records_from_chunks(name, [raw])
            return
        yield from records_from_chunks(name, _chunks(body, name, source))
    finally:
        body.close()


def _chunks(body: Any, name: str, source: str) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    except (*AWS_EXCEPTIONS, OSError) as e:
        raise _aws.as_retry(source, f"{name}: reading", e) from None
    except Exception as e:  # urllib3 protocol errors (connection cut mid-body)
        if type(e).__module__.startswith(("urllib3", "botocore")):
            raise _aws.as_retry(source, f"{name}: reading", e) from None
        raise
