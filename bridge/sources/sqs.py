"""`type: sqs`: a queue of notifications about new CloudTrail files, or of CloudTrail events.

Every message shape in use is detected per message (normalize/notifications.py). Receivers long-poll
up to 10 messages each; a message stays invisible to other consumers while its files are read
(its visibility is extended), and it is deleted only once the plugin has ACKed every record it
led to. A message that cannot be understood is quarantined with the reason and not deleted, so
the queue's redrive policy moves it to the dead-letter queue. Several replicas may share a queue
(competing consumers); a redelivered message's records are dropped by the eventID dedup.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bridge.config import _where
from bridge.errors import ConfigError
from bridge.model import BadItem, Record
from bridge.normalize.logfile import record_from_value
from bridge.normalize.notifications import Notice, Unknown, read_message
from bridge.sources import _aws
from bridge.sources._aws import AWS_EXCEPTIONS
from bridge.sources._base import SOURCES, Feed, Retry, SourceContext, Work
from bridge.sources._metrics import OBJECTS_SKIPPED, RECORDS_QUARANTINED, SQS_DELETED, SQS_IN_FLIGHT, SQS_RECEIVED
from bridge.deliver.packed import Packed
from bridge.sources.s3 import DIGEST, FILE_NAME, read_object

log = logging.getLogger("ctbridge.sources.sqs")

DELETE_LINGER = 0.2  # seconds a delete waits for more messages to share its DeleteMessageBatch


@dataclass(frozen=True, kw_only=True)
class SqsConfig(_aws.AwsAccess):
    queue_url: str
    receivers: int = 2  # threads receiving in parallel
    max_messages: int = 10  # per receive (1..10)
    wait_time: int = 20  # long polling, seconds (0..20)
    visibility_timeout: int = 300  # set on receive, extended while a message is worked on
    retry_delay: int = 30  # a message whose file could not be read becomes visible after this
    insights: bool = False  # read CloudTrail-Insight files too

    def validate(self, path: str) -> None:
        if not self.queue_url.startswith(("https://", "http://")):
            raise ConfigError(f"{_where(path + '.queue_url')}: {self.queue_url!r} is not a queue URL "
                              "(https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
        if not 1 <= self.max_messages <= 10:
            raise ConfigError(f"{_where(path + '.max_messages')}: must be 1..10, got {self.max_messages}")
        if not 0 <= self.wait_time <= 20:
            raise ConfigError(f"{_where(path + '.wait_time')}: must be 0..20, got {self.wait_time}")
        if not 10 <= self.visibility_timeout <= 43200:
            raise ConfigError(f"{_where(path + '.visibility_timeout')}: must be 10..43200, "
                              f"got {self.visibility_timeout}")
        if self.receivers < 1:
            raise ConfigError(f"{_where(path + '.receivers')}: must be at least 1")


@dataclass
class _InFlight:
    receipt: str
    message_id: str
    extended_at: float  # monotonic


@SOURCES.register("sqs")
class SqsSource:
    Config = SqsConfig

    def __init__(self, name: str, config: SqsConfig, ctx: SourceContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self._session: Any = None
        self._sqs: Any = None
        self._s3: Any = None
        self._inflight: dict[str, _InFlight] = {}  # message id -> receipt
        self._lock = threading.Lock()
        self._deletes: queue.Queue[_InFlight] = queue.Queue()
        self._ok, self._detail = False, "not polled yet"
        self.received = self.deleted = 0
        self.test_events = 0

    def _clients(self) -> tuple[Any, Any]:
        if self._sqs is None:
            self._session = _aws.session(self.config)
            self._sqs = _aws.client(self.config, "sqs", self._session)
            self._s3 = _aws.client(self.config, "s3", self._session)
        return self._sqs, self._s3

    # -- DaemonSource ------------------------------------------------------------------------

    def check(self) -> str:
        sqs, _ = self._clients()
        try:
            attrs = sqs.get_queue_attributes(QueueUrl=self.config.queue_url, AttributeNames=["All"])["Attributes"]
        except AWS_EXCEPTIONS as e:
            _aws.count(self.name, e)
            raise Retry(f"{self.config.queue_url}: cannot get attributes: {_aws.describe(e)}") from None
        redrive = "with a redrive policy" if "RedrivePolicy" in attrs else \
            "WITHOUT a redrive policy (messages that cannot be understood stay in the queue)"
        return (f"{self.config.queue_url}: reachable, ~{attrs.get('ApproximateNumberOfMessages', '?')} "
                f"messages waiting, {redrive}")

    def ready(self) -> tuple[bool, str]:
        return self._ok, self._detail

    def run(self, feed: Feed) -> None:
        self._clients()
        helpers = [threading.Thread(target=self._extend_loop, name=f"{self.name}-visibility", daemon=True),
                   threading.Thread(target=self._delete_loop, name=f"{self.name}-delete", daemon=True)]
        receivers = [threading.Thread(target=self._receive_loop, args=(feed,), name=f"{self.name}-receive-{i}",
                                      daemon=True) for i in range(self.config.receivers)]
        for t in helpers + receivers:
            t.start()
        for t in receivers:
            t.join()
        self._deletes.put(_InFlight("", "", 0.0))  # wakes the deleter to finish
        for t in helpers:
            t.join(timeout=30)

    # -- receiving ---------------------------------------------------------------------------

    def _receive_loop(self, feed: Feed) -> None:
        sqs, _ = self._clients()
        attempt = 0
        while not self.ctx.stop.is_set():
            try:
                resp = sqs.receive_message(
                    QueueUrl=self.config.queue_url, MaxNumberOfMessages=self.config.max_messages,
                    WaitTimeSeconds=self.config.wait_time, VisibilityTimeout=self.config.visibility_timeout,
                    MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"])
                self._ok, self._detail = True, f"{self.config.queue_url} reachable"
                attempt = 0
            except AWS_EXCEPTIONS as e:
                code = _aws.count(self.name, e)
                self._ok, self._detail = False, f"{self.config.queue_url}: {code}"
                log.warning("%s: receive failed: %s", self.name, _aws.describe(e))
                attempt += 1
                self.ctx.stop.wait(_aws.backoff(attempt))
                continue
            for msg in resp.get("Messages", []):
                SQS_RECEIVED.labels(source=self.name).inc()
                with self._lock:
                    self.received += 1
                self._handle(msg, feed)

    def _handle(self, msg: dict[str, Any], feed: Feed) -> None:
        mid, receipt = msg["MessageId"], msg["ReceiptHandle"]
        origin = f"sqs:{self.name}/{mid}"
        notice = read_message(msg.get("Body", ""))
        if isinstance(notice, Unknown):
            RECORDS_QUARANTINED.labels(source=self.name).inc()
            self.ctx.quarantine.put(BadItem(origin, f"{origin}: {notice.reason}; left in the queue for its "
                                            "redrive policy", msg.get("Body", "").encode("utf-8", "replace")))
            return
        flight = _InFlight(receipt, mid, time.monotonic())
        if notice.test:
            OBJECTS_SKIPPED.labels(source=self.name, reason="s3_test_event").inc()
            with self._lock:
                self.test_events += 1
            self._deletes.put(flight)
            return
        with self._lock:
            self._inflight[mid] = flight
            SQS_IN_FLIGHT.labels(source=self.name).set(len(self._inflight))
        sent = int(msg.get("Attributes", {}).get("SentTimestamp", "0")) / 1000 or None

        def done() -> None:
            with self._lock:
                self._inflight.pop(mid, None)
            self._deletes.put(flight)

        def abandon(reason: str) -> None:
            with self._lock:
                self._inflight.pop(mid, None)
                SQS_IN_FLIGHT.labels(source=self.name).set(len(self._inflight))
            try:
                self._sqs.change_message_visibility(QueueUrl=self.config.queue_url, ReceiptHandle=receipt,
                                                    VisibilityTimeout=self.config.retry_delay)
            except AWS_EXCEPTIONS as e:
                _aws.count(self.name, e)

        feed.put(Work(key=origin, source=self.name, items=lambda: self._items(origin, notice), checkpointed=False,
                      on_done=done, on_abandon=abandon, newest_ts=sent))

    def _items(self, origin: str, notice: Notice) -> Iterator[Record | BadItem | Packed]:
        for i, rec in enumerate(notice.records):
            yield record_from_value(rec, f"{origin}#{i}")
        _, s3 = self._clients()
        for bucket, key in notice.files:
            name = key.rsplit("/", 1)[-1]
            if f"/{DIGEST}/" in key or "_CloudTrail-Digest_" in name:
                OBJECTS_SKIPPED.labels(source=self.name, reason="digest").inc()
                continue
            m = FILE_NAME.match(name)
            if m is None:
                yield BadItem(f"s3://{bucket}/{key}", f"s3://{bucket}/{key} (from {origin}): not a CloudTrail "
                              "log file name (ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_ID.json.gz), not read")
                continue
            if m.group("insight") and not self.config.insights:
                OBJECTS_SKIPPED.labels(source=self.name, reason="insight").inc()
                continue
            yield from read_object(s3, bucket, key, self.name)

    # -- visibility and deletion -------------------------------------------------------------

    def _extend_loop(self) -> None:
        period = max(1.0, self.config.visibility_timeout / 3)
        while not self.ctx.stop.wait(min(period, 5.0)):
            now = time.monotonic()
            with self._lock:
                due = [f for f in self._inflight.values() if now - f.extended_at > self.config.visibility_timeout / 2]
            for i in range(0, len(due), 10):
                batch = due[i:i + 10]
                entries = [{"Id": str(n), "ReceiptHandle": f.receipt,
                            "VisibilityTimeout": self.config.visibility_timeout} for n, f in enumerate(batch)]
                try:
                    self._sqs.change_message_visibility_batch(QueueUrl=self.config.queue_url, Entries=entries)
                    for f in batch:
                        f.extended_at = now
                except AWS_EXCEPTIONS as e:
                    _aws.count(self.name, e)
                    log.warning("%s: extending visibility failed: %s", self.name, _aws.describe(e))

    def _delete_loop(self) -> None:
        """DeleteMessageBatch of up to 10: ACKs complete messages one by one, so after the first
        the loop waits up to DELETE_LINGER seconds for more (not when stopping) rather than
        sending a request per message, each costing about as much as a message's whole work."""
        stopping = False
        while True:
            first = self._deletes.get()
            batch = [] if not first.receipt else [first]
            stopping = stopping or not first.receipt
            deadline = time.monotonic() + DELETE_LINGER
            while len(batch) < 10:
                try:
                    left = deadline - time.monotonic()
                    nxt = self._deletes.get(timeout=left) if left > 0 and not stopping else self._deletes.get_nowait()
                except queue.Empty:
                    break
                if nxt.receipt:
                    batch.append(nxt)
                else:
                    stopping = True
            if batch:
                self._delete(batch)
            if stopping and self._deletes.empty():
                return

    def _delete(self, batch: list[_InFlight]) -> None:
        entries = [{"Id": str(n), "ReceiptHandle": f.receipt} for n, f in enumerate(batch)]
        for attempt in range(8):
            try:
                resp = self._sqs.delete_message_batch(QueueUrl=self.config.queue_url, Entries=entries)
            except AWS_EXCEPTIONS as e:
                _aws.count(self.name, e)
                log.warning("%s: delete failed (attempt %d): %s", self.name, attempt + 1, _aws.describe(e))
                time.sleep(_aws.backoff(attempt, cap=5.0))
                continue
            ok = len(resp.get("Successful", []))
            for f in resp.get("Failed", []):
                log.warning("%s: could not delete %s: %s", self.name, batch[int(f["Id"])].message_id,
                            f.get("Message") or f.get("Code"))
            SQS_DELETED.labels(source=self.name).inc(ok)
            with self._lock:
                self.deleted += ok
                SQS_IN_FLIGHT.labels(source=self.name).set(len(self._inflight))
            return
