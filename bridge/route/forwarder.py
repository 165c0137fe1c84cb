"""The forwarding pipeline after intake: route each alert and durably queue it per destination.

    fwd = build_forwarder(config, readiness)   # the whole config mapping; foreign keys ignored
    fwd.start()
    fwd.handle(alert)      # returns once queued for every matching destination; QueueFull if not
    fwd.close()

`ctbridge forward` and `ctbridge run` both use it.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.config import _where, from_dict
from bridge.errors import ConfigError
from bridge.model import Alert
from bridge.queue import metrics
from bridge.queue.store import QueueFull, Store
from bridge.queue.worker import Worker, encode
from bridge.registry import load_package
from bridge.route.ident import alert_id
from bridge.route.match import RouteConfig, Router
from bridge.sinks._base import COMMON_KEYS, SINKS, Common, QueueLimits, Sink
from bridge.telemetry.health import Readiness

log = logging.getLogger("ctbridge.forward")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


@dataclass(frozen=True, kw_only=True)
class QueueSection:
    dir: str = "ctbridge-queue"  # one sub-directory per destination
    max_depth: int = 100_000
    max_age: float = 0.0
    policy: str = "block"
    fsync: bool = False  # also survive power loss (an fsync per commit)
    block_wait: float = 0.0  # block policy: wait this long for room before answering 503

    def limits(self) -> QueueLimits:
        return QueueLimits(max_depth=self.max_depth, max_age=self.max_age, policy=self.policy)

    def validate(self, path: str) -> None:
        self.limits().validate(path)


@dataclass(frozen=True)
class Destination:
    common: Common
    sink: Sink


def load_sinks() -> None:
    load_package("bridge.sinks")


def parse_destination(entry: Any, path: str) -> tuple[Common, Any]:
    """Split one `destinations:` entry into the common settings and the sink's own Config."""
    load_sinks()
    if not isinstance(entry, dict):
        raise ConfigError(f"{_where(path)}: must be a mapping with name and type")
    common = from_dict(Common, {k: v for k, v in entry.items() if k in COMMON_KEYS}, path)
    if not _NAME.fullmatch(common.name):
        raise ConfigError(f"{_where(path + '.name')}: {common.name!r}: letters, digits, '_', '.', '-' only")
    cls = SINKS.get(common.type, f"{path}.type")
    if common.batch.max_events > cls.batch_limit:
        raise ConfigError(f"{_where(path + '.batch.max_events')}: {common.batch.max_events} is over the "
                          f"{cls.batch_limit} a {common.type} request can carry")
    cfg = from_dict(cls.Config, {k: v for k, v in entry.items() if k not in COMMON_KEYS}, path)
    return common, cfg


def parse_destinations(config: dict[str, Any]) -> list[Destination]:
    raw = config.get("destinations") or []
    if not isinstance(raw, list):
        raise ConfigError(f"{_where('destinations')}: must be a list")
    out: list[Destination] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        common, cfg = parse_destination(entry, f"destinations[{i}]")
        if common.name in seen:
            raise ConfigError(f"destinations[{i}].name: {common.name!r} is used twice")
        seen.add(common.name)
        out.append(Destination(common, SINKS.get(common.type)(common.name, cfg, common)))
    return out


def parse_routes(config: dict[str, Any], names: list[str]) -> list[RouteConfig]:
    raw = config.get("routes")
    if raw is None:
        return [RouteConfig(to=names, name="everything", default=True)] if names else []
    if not isinstance(raw, list):
        raise ConfigError(f"{_where('routes')}: must be a list")
    routes = [from_dict(RouteConfig, r, f"routes[{i}]") for i, r in enumerate(raw)]
    for i, r in enumerate(routes):
        for n in r.to:
            if n not in names:
                raise ConfigError(f"routes[{i}].to: no destination named {n!r} (have: {', '.join(names) or 'none'})")
    return routes


class Forwarder:
    def __init__(self, destinations: list[Destination], routes: list[RouteConfig], queue: QueueSection,
                 readiness: Readiness | None = None) -> None:
        self.router = Router(routes)
        self.readiness = readiness
        self.sinks = {d.common.name: d.sink for d in destinations}
        self.stores: dict[str, Store] = {}
        self.workers: dict[str, Worker] = {}
        base = Path(queue.dir)
        for d in destinations:
            c = d.common
            path = base / c.name / "queue.db"
            try:
                store = Store(path, c.queue or queue.limits(), c.dedup_window, queue.fsync)
            except (OSError, sqlite3.Error) as e:
                raise ConfigError(f"queue.dir: cannot open {path}: {e}") from None
            self.stores[c.name] = store
            self.workers[c.name] = Worker(d.sink, store, c.batch.max_events or d.sink.max_batch, c.batch.interval)
        self.block_wait = queue.block_wait
        self._dropped = {n: 0 for n in self.stores}
        self._deduped = {n: 0 for n in self.stores}

    def handle(self, alert: Alert) -> None:
        """Queue the alert for every destination its routes name; return only once it is durable.
        QueueFull (nothing queued anywhere) when a block-policy queue among them is full."""
        (error,) = self.handle_many([alert])
        if error is not None:
            raise error

    def handle_many(self, alerts: list[Alert]) -> list[BaseException | None]:
        """handle() for several alerts with one transaction per destination (the HTTP intake
        hands over every request that arrived together); per alert None or the error for it."""
        out: list[BaseException | None] = [None] * len(alerts)
        rows: dict[str, list[tuple[int, str, bytes]]] = {}
        for k, alert in enumerate(alerts):
            names = self.router.destinations(alert)
            if not names:
                metrics.INTAKE.labels("unrouted").inc()  # no route matched and there is no default route
                continue
            try:
                self._wait_for_room(names)
            except QueueFull as e:
                out[k] = e
                continue
            aid, body = alert_id(alert), encode(alert)
            for n in names:
                rows.setdefault(n, []).append((k, aid, body))
        for n, mine in rows.items():
            s = self.stores[n]
            for (k, _, _), result in zip(mine, s.put_many([(aid, body) for _, aid, body in mine])):
                if isinstance(result, BaseException) and out[k] is None:
                    out[k] = result
            self._count(n, s)
        return out

    def _wait_for_room(self, names: list[str]) -> None:
        deadline = time.monotonic() + self.block_wait
        for n in names:
            s = self.stores[n]
            # Falco's http_output ignores the status code, so holding the request (block_wait) is
            # the only back-pressure a plain Falco feels; a 503 reaches senders that retry.
            while not s.has_room():
                if time.monotonic() >= deadline:
                    raise QueueFull(f"destination {n}: queue full ({s.depth()} alerts)")
                time.sleep(0.05)

    def handle_blocking(self, alert: Alert, stop: threading.Event) -> None:
        """handle(), waiting out a full queue instead of raising: for intakes that cannot answer
        503 (Falco's gRPC output), where holding the stream is the back-pressure."""
        while not stop.is_set():
            try:
                self.handle(alert)
                return
            except QueueFull:
                stop.wait(0.5)

    def _count(self, name: str, s: Store) -> None:
        if s.dropped != self._dropped[name]:
            metrics.DROPPED.labels(name).inc(s.dropped - self._dropped[name])
            self._dropped[name] = s.dropped
        if s.deduplicated != self._deduped[name]:
            metrics.DEDUPED.labels(name).inc(s.deduplicated - self._deduped[name])
            self._deduped[name] = s.deduplicated

    def start(self) -> Forwarder:
        for name, w in self.workers.items():
            store = self.stores[name]
            metrics.GAUGES.sources[name] = lambda s=store: (s.depth(), s.oldest_age())  # type: ignore[misc]
            if self.readiness is not None:
                self.readiness.add(f"destination {name}", self._check(name))
            w.start()
        return self

    def _check(self, name: str) -> Any:
        def check() -> tuple[bool, str]:
            w, s = self.workers[name], self.stores[name]
            detail = f"{s.depth()} queued, oldest {s.oldest_age():.0f}s"
            if w.last_error:
                detail += f", retrying: {w.last_error[:120]}"
            if not w.alive():
                return False, "worker stopped; " + detail
            if not s.has_room():
                return False, "queue full; " + detail
            return True, detail

        return check

    def close(self) -> None:
        for w in self.workers.values():
            w.signal_stop()  # all at once, so N slow destinations do not add up their timeouts
        for w in self.workers.values():
            w.stop()
        for name, s in self.stores.items():
            metrics.GAUGES.sources.pop(name, None)
            if self.readiness is not None:
                self.readiness.remove(f"destination {name}")
            self.sinks[name].close()
            s.close()


def queue_section(config: dict[str, Any]) -> QueueSection:
    return from_dict(QueueSection, config.get("queue"), "queue")


def build_forwarder(config: dict[str, Any], readiness: Readiness | None = None) -> Forwarder:
    """From the whole config mapping (destinations:, routes:, queue:); other top-level keys ignored."""
    dests = parse_destinations(config)
    routes = parse_routes(config, [d.common.name for d in dests])
    return Forwarder(dests, routes, queue_section(config), readiness)
