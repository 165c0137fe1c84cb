"""One thread per destination: take the head of its queue, send, and only then remove.

Retryable failures keep the batch at the head (order per destination is kept) and wait: the
Retry-After the destination gave, else exponential backoff with jitter. Permanent failures go to
the dead-letter table with the reason. A slow destination only ever delays its own thread.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

import orjson

from bridge.model import Alert
from bridge.queue import metrics
from bridge.queue.store import Item, Store
from bridge.sinks._base import PartialFailure, Permanent, Retryable, Sink

log = logging.getLogger("ctbridge.forward")


def encode(alert: Alert) -> bytes:
    return orjson.dumps(alert.to_dict(), option=orjson.OPT_NON_STR_KEYS, default=str)


def decode(body: bytes) -> Alert:
    d: dict[str, Any] = orjson.loads(body)
    top = {k: d.pop(k) for k in ("time", "rule", "priority", "source", "output", "hostname") if k in d}
    tags = tuple(d.pop("tags", ()) or ())
    fields = d.pop("output_fields", None) or {}
    return Alert(time=top.get("time", ""), rule=top.get("rule", ""), priority=top.get("priority", ""),
                 source=top.get("source", ""), output=top.get("output", ""), hostname=top.get("hostname", ""),
                 tags=tags, output_fields=fields, extra=d)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential with 'equal jitter': half fixed, half random, so retries of many bridges spread."""
    d = min(cap, base * float(2 ** min(attempt - 1, 30)))
    return d / 2 + random.uniform(0, d / 2)


class TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = max(1.0, rate)
        self.stamp = time.monotonic()

    def delay(self, n: int) -> float:
        """Take n tokens; how long to wait before sending."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= n
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class Worker:
    def __init__(self, sink: Sink, store: Store, max_events: int, interval: float) -> None:
        self.sink = sink
        self.store = store
        self.name = sink.name
        self.max_events = max(1, max_events)
        self.interval = interval
        self.bucket = TokenBucket(sink.common.rate_limit)
        self.attempt = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sink-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def signal_stop(self) -> None:
        self._stop.set()
        with self.store.available:
            self.store.available.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        """Let an in-flight send finish (up to timeout); what is still queued stays queued."""
        self.signal_stop()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a bug in one sink must not end its worker silently
                log.exception("destination %s: worker error", self.name)
                self._stop.wait(1.0)

    def step(self) -> bool:
        """Send one batch if there is one; False when the queue was empty."""
        depth = self.store.depth()
        if depth == 0:
            self.store.wait(0.5)
            if self.store.depth():
                return True  # new alerts: go round again, so a batch can fill for batch.interval
            # still none counted: peek anyway, `dlq retry` from another process is not counted
        elif depth < self.max_events and self.interval > 0:
            oldest = self.store.oldest_enqueued()
            due = (oldest or 0.0) + self.interval - time.time()
            if due > 0:  # let the batch fill, without re-reading it from SQLite each nap
                self._stop.wait(min(due, 0.05))
                return True
        items = self.store.peek(self.max_events)
        if not items:
            return False
        pause = self.bucket.delay(len(items))
        if pause > 0 and self._stop.wait(pause):
            return True
        self._send(items)
        return True

    def _send(self, items: list[Item]) -> None:
        name = self.name
        try:
            self.sink.send([decode(i.body) for i in items])
        except Retryable as e:
            self._retry(len(items), str(e), e.retry_after)
            return
        except PartialFailure as e:
            ok = [it for k, it in enumerate(items) if k not in e.retryable and k not in e.permanent]
            self._accepted(ok)
            if e.permanent:
                self._dead([(items[k], r) for k, r in e.permanent.items()])
            if e.retryable:
                self._retry(len(e.retryable), next(iter(e.retryable.values())), e.retry_after)
            return
        except Permanent as e:
            self._dead([(it, str(e)) for it in items])
            return
        except Exception as e:  # a payload this sink cannot build: retrying will not help
            log.exception("destination %s: unexpected error", name)
            self._dead([(it, f"unexpected {type(e).__name__}: {e}") for it in items])
            return
        self._accepted(items)

    def _accepted(self, items: list[Item]) -> None:
        if not items:
            return
        self.store.ack(items)
        now = time.time()
        for it in items:
            metrics.LATENCY.labels(self.name).observe(max(0.0, now - it.enqueued))
        metrics.SENT.labels(self.name).inc(len(items))
        self.attempt = 0
        self.last_error = ""

    def _dead(self, items: list[tuple[Item, str]]) -> None:
        self.store.dead(items)
        metrics.FAILED.labels(self.name).inc()
        metrics.DEAD.labels(self.name).inc(len(items))
        log.warning("destination %s: %d alert(s) dead-lettered: %s", self.name, len(items), items[0][1])

    def _retry(self, n: int, reason: str, retry_after: float | None) -> None:
        self.attempt += 1
        self.last_error = reason
        metrics.FAILED.labels(self.name).inc()
        metrics.RETRIED.labels(self.name).inc(n)
        c = self.sink.common
        delay = min(retry_after, 3600.0) if retry_after is not None else backoff(self.attempt, c.backoff_base,
                                                                                 c.backoff_max)
        log.warning("destination %s: attempt %d failed (%s); retrying in %.1fs", self.name, self.attempt,
                    reason, delay)
        self._stop.wait(delay)
