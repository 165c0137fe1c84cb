"""`ctbridge run --config FILE`: several sources at once -> normalize -> dedup -> plugin socket.

Threads: each source runs in its own thread and puts Work on a bounded feed; `readers` threads
read Works (download, gunzip, split) into bounded chunk queues, in parallel; this module's
delivery loop takes them in order and sends their records to the plugin. Every record leaves a
mark; when the plugin ACKs up to a mark, the checkpoint advances (one SQLite transaction with the
eventIDs now in Falco), and a Work whose last mark is ACKed is completed (S3 object marked done,
SQS message deleted). Memory is bounded by the queues, not by the input.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.app import Collector, ReplayReport, start_intake, wait_quiet
from bridge.config import from_dict
from bridge.deliver.checkpoints import Checkpoints
from bridge.deliver.journal import Journal
from bridge.deliver.packed import Packed
from bridge.deliver.socket_client import PluginClient
from bridge.errors import BridgeError, InputError
from bridge.model import Alert, BadItem, Record
from bridge.enrich import Enricher
from bridge.intake.tls import GrpcTls, TlsConfig
from bridge.normalize.dedup import WindowDedup
from bridge.normalize.quarantine import Quarantine
from bridge.sources import _metrics as m
from bridge.sources._base import DaemonSource, Retry, SourceContext, Work
from bridge.sources._config import DaemonConfig, build_sources
from bridge.telemetry.health import OpsServer, Readiness

log = logging.getLogger("ctbridge.daemon")

_CHUNK_ITEMS = 256
_CHUNKS_AHEAD = 8  # per Work being read
_PRUNE_EVERY = 60.0
_RECORD, _SKIPPED, _FINISHED, _RUN = 0, 1, 2, 3


@dataclass
class DaemonReport:
    records: int = 0
    acked: int = 0
    duplicates: int = 0
    quarantined: int = 0
    works_done: int = 0
    works_abandoned: int = 0
    alerts: int = 0


class _Failed:
    def __init__(self, reason: str) -> None:
        self.reason = reason


_END = object()


@dataclass(eq=False)
class _Reading:
    """A Work being read by a reader thread; its items arrive in chunks."""

    work: Work
    chunks: queue.Queue[list[Record | BadItem] | Packed | _Failed | object] = field(
        default_factory=lambda: queue.Queue(_CHUNKS_AHEAD))


class _Feed:
    """Bounded hand-over from source threads; put() gives up when the daemon stops."""

    def __init__(self, stop: threading.Event, size: int) -> None:
        self.q: queue.Queue[Work] = queue.Queue(size)
        self.stop = stop
        self._lock = threading.Lock()
        self.outstanding = 0  # Works put and not yet delivered (or dropped)

    def put(self, work: Work) -> None:
        with self._lock:
            self.outstanding += 1  # before the put, so that an idle check never misses it
        while not self.stop.is_set():
            try:
                self.q.put(work, timeout=0.2)
                return
            except queue.Full:
                continue
        self.settled()
        raise _Stopped()

    def settled(self) -> None:
        with self._lock:
            self.outstanding -= 1


class _Stopped(Exception):
    """The daemon is stopping: a source's put() found no room and gave up."""


class _Marks:
    """Maps the plugin client's cumulative ACK count back to checkpoints and completions."""

    def __init__(self, checkpoints: Checkpoints, report: DaemonReport) -> None:
        self._cp = checkpoints
        self._report = report
        self.journal = Journal(checkpoints)
        self.sent = 0
        self.acked = 0
        # (records sent when the mark was made, work, items of the work handled, eventID hash (a
        # list of them for a run), kind, records sent before a run)
        self._marks: deque[tuple[int, Work, int, Any, int, int]] = deque()

    def _key(self, work: Work) -> str:
        return work.key if work.checkpointed else ""

    def record(self, work: Work, done: int, h: int) -> None:
        """Made before the record goes to the client: sending it may seal its batch."""
        self.sent += 1
        self._marks.append((self.sent, work, done, h, _RECORD, 0))
        self.journal.note(self.sent, self._key(work), done, False, h)

    def run(self, work: Work, done_before: int, items: int, skip: list[int], hashes: list[int]) -> None:
        """Items done_before+1 .. done_before+items of a Packed: those at the (sorted, 0-based)
        indexes in skip were dropped as repeats, the others are sent as len(hashes) records.
        Made before client.send_packed, for the same reason as record()."""
        before = self.sent
        self.sent += len(hashes)
        self._marks.append((self.sent, work, done_before + items, hashes, _RUN, before))
        self.journal.note_run(before, self._key(work), done_before, items, skip, hashes)

    def unrecord(self) -> None:
        """The client refused the record just marked (InputError): it joined no batch."""
        self._marks.pop()
        self.journal.unnote()
        self.sent -= 1

    def skipped(self, work: Work, done: int) -> None:
        self._marks.append((self.sent, work, done, 0, _SKIPPED, 0))
        self.journal.note(self.sent, self._key(work), done, False, 0)

    def finished(self, work: Work, done: int) -> None:
        self._marks.append((self.sent, work, done, 0, _FINISHED, 0))
        self.journal.note(self.sent, self._key(work), done, True, 0)
        if self.sent <= self.acked:  # nothing of it is waiting for the plugin (all repeats or bad)
            self.on_ack(self.acked)

    def on_ack(self, acked: int) -> None:
        self.acked = acked
        if not self._marks or self._marks[0][0] > acked:
            return
        positions: dict[str, tuple[int, bool]] = {}
        hashes: list[int] = []
        finished: list[Work] = []
        acked_by_source: dict[str, int] = {}
        while self._marks and self._marks[0][0] <= acked:
            _, work, done, h, kind, _ = self._marks.popleft()
            if kind == _RECORD:
                acked_by_source[work.source] = acked_by_source.get(work.source, 0) + 1
                if h:
                    hashes.append(h)
            elif kind == _RUN:
                acked_by_source[work.source] = acked_by_source.get(work.source, 0) + len(h)
                hashes += h if 0 not in h else [x for x in h if x]
            if kind == _FINISHED:
                finished.append(work)
            if work.checkpointed:
                positions[work.key] = (done, kind == _FINISHED)
        # A run is committed once all of it is ACKed: until then the journal keeps its rows.
        committed = acked
        if self._marks and self._marks[0][4] == _RUN:
            committed = min(acked, self._marks[0][5])
        now = time.time()
        with self._cp.transaction():
            for key, (done, complete) in positions.items():
                self._cp.advance(key, done, complete)
            if hashes:
                self._cp.add_seen(hashes, now)
            self.journal.acked(committed)
        for source, n in acked_by_source.items():
            m.RECORDS_ACKED.labels(source=source).inc(n)
            self._report.acked += n
        for work in finished:
            self._report.works_done += 1
            m.OBJECTS_DONE.labels(source=work.source).inc()
            if work.newest_ts is not None:
                m.LAG.labels(source=work.source).set(max(0.0, now - work.newest_ts))
            if work.on_done is not None:
                try:
                    work.on_done()
                except Exception as e:  # a failed completion (e.g. delete) is retried by the source
                    log.error("%s: completing after ACK failed: %s", work.key, e)


class Daemon:
    def __init__(self, config: DaemonConfig, on_alert: Callable[[Alert], None],
                 stop: threading.Event | None = None, enricher: Enricher | None = None,
                 http_tls: TlsConfig | None = None, grpc_tls: GrpcTls | None = None) -> None:
        self.config = config
        self.http_tls, self.grpc_tls = http_tls, grpc_tls  # the intake's TLS (run --watch's --tls-* flags)
        self.on_alert = on_alert
        self.enricher = enricher  # after dedup, before the plugin: the "ctb" key (docs/enrichment.md)
        self.stop = stop or threading.Event()
        self.report = DaemonReport()
        self.readiness = Readiness()
        self._client: PluginClient | None = None

    def run(self) -> DaemonReport:
        cfg = self.config
        with ExitStack() as stack:
            checkpoints = Checkpoints(cfg.state.path)
            stack.callback(checkpoints.close)
            stack.callback(self.stop.set)  # first on the way out (also on an error): sources stop
            quarantine = Quarantine(Path(cfg.state.quarantine_dir) if cfg.state.quarantine_dir else None)
            ctx = SourceContext(checkpoints=checkpoints, quarantine=quarantine, stop=self.stop)
            sources = build_sources(cfg.sources, ctx)
            window = cfg.dedup.window_seconds
            if cfg.ops.listen:
                host, _, port = cfg.ops.listen.rpartition(":")
                ops = OpsServer(host or "0.0.0.0", int(port), self.readiness).start()
                stack.callback(ops.close)
            for src in sources:
                self.readiness.add(f"source {src.name}", src.ready)
            self.readiness.add("plugin_socket", self._plugin_ready)

            replay_report = ReplayReport()
            collector = Collector(self.on_alert, replay_report)
            received = start_intake(cfg.falco.intake, cfg.falco.listen, cfg.falco.grpc_target, collector,
                                    replay_report, stack, http_tls=self.http_tls, grpc_tls=self.grpc_tls)
            marks = _Marks(checkpoints, self.report)
            # 0: wait for Falco as long as it takes (bounded by what Condition.wait accepts)
            timeout = cfg.falco.connect_timeout or threading.TIMEOUT_MAX / 2
            client = stack.enter_context(PluginClient(cfg.falco.socket, connect_timeout=timeout,
                                                      window=cfg.falco.window, on_ack=marks.on_ack,
                                                      on_seal=marks.journal.on_seal,
                                                      batch_events=cfg.falco.batch_events))
            self._client = client
            client.connect()
            # What a killed predecessor sent that this plugin holds counts as ACKed; only then are
            # the dedup window and positions read, and the sources started.
            assert client.instance_id is not None
            marks.journal.recover(client.instance_id, client.welcome_last_seq)
            dedup = WindowDedup(cfg.dedup.max_entries)
            dedup.preload(checkpoints.seen_since(time.time() - window, cfg.dedup.max_entries))
            feed = _Feed(self.stop, max(2, cfg.readers * 2))
            ready: queue.Queue[_Reading | object] = queue.Queue(max(2, cfg.readers * 2))
            threads = [threading.Thread(target=self._source_loop, args=(s, feed), name=f"source-{s.name}",
                                        daemon=True) for s in sources]
            threads += [threading.Thread(target=self._reader_loop, args=(feed, ready), name=f"reader-{i}",
                                         daemon=True) for i in range(cfg.readers)]
            # What start-up built (modules, boto3's service models, the config) lives as long as
            # the process: out of the cyclic GC's reach, its full collections, set off by the many
            # short-lived objects of reading, no longer walk it (they were ~9% of the CPU).
            gc.freeze()
            for t in threads:
                t.start()
            sources_left = [t for t in threads if t.name.startswith("source-")]
            last_prune = 0.0
            reconnects = 0
            frozen_again = False
            while True:
                try:
                    item = ready.get(timeout=0.1)
                except queue.Empty:
                    client.flush()
                    client.poll_acks()
                    if client.stats.reconnects != reconnects:
                        m.PLUGIN_RECONNECTS.inc(client.stats.reconnects - reconnects)
                        reconnects = client.stats.reconnects
                    if time.monotonic() - last_prune > _PRUNE_EVERY:
                        last_prune = time.monotonic()
                        checkpoints.prune_seen(time.time() - window, cfg.dedup.max_entries)
                    if self.stop.is_set() or (cfg.exit_when_idle and feed.outstanding == 0
                                              and not any(t.is_alive() for t in sources_left)):
                        break
                    continue
                assert isinstance(item, _Reading)
                self._deliver(item, client, marks, dedup, quarantine, checkpoints)
                feed.settled()
                if not frozen_again:  # the sources' clients exist now (made on first use): them too
                    frozen_again = True
                    gc.collect()
                    gc.freeze()
                if ready.empty():
                    client.flush()
            self.stop.set()
            client.wait_acked(timeout)
            marks.on_ack(marks.sent)
            wait_quiet(received, cfg.falco.quiet)
            self.report.alerts = replay_report.alerts
            self.report.quarantined = quarantine.count
        return self.report

    def _plugin_ready(self) -> tuple[bool, str]:
        c = self._client
        conn = c._conn if c is not None else None
        if conn is None or conn.dead:
            return False, f"not connected to {self.config.falco.socket}"
        return True, f"connected to {self.config.falco.socket}"

    def _source_loop(self, src: DaemonSource, feed: _Feed) -> None:
        try:
            src.run(feed)
        except _Stopped:
            pass
        except Exception as e:
            if self.stop.is_set():  # the daemon is failing or stopping: its error is the one reported
                log.debug("source %s stopped while the daemon stopped: %s", src.name, e)
                return
            log.exception("source %s stopped with an error", src.name)

    def _reader_loop(self, feed: _Feed, ready: queue.Queue[_Reading | object]) -> None:
        while not self.stop.is_set():
            try:
                work = feed.q.get(timeout=0.2)
            except queue.Empty:
                continue
            reading = _Reading(work)
            if not _put(ready, reading, self.stop):
                feed.settled()  # stopping: never read; its source reads it again next time
                return
            _fill(reading)

    def _deliver(self, reading: _Reading, client: PluginClient, marks: _Marks, dedup: WindowDedup,
                 quarantine: Quarantine, checkpoints: Checkpoints) -> None:
        work = reading.work
        start, complete = checkpoints.position(work.key) if work.checkpointed else (0, False)
        if complete:
            _drain(reading)
            marks.finished(work, start)
            return
        if start:
            log.info("%s: resuming after %d items already in Falco", work.key, start)
        source = work.source
        done = 0
        read = delivered = dups = bad = 0
        while True:
            chunk = reading.chunks.get()
            if chunk is _END:
                break
            if isinstance(chunk, _Failed):
                self.report.works_abandoned += 1
                log.warning("%s: %s; will be read again", work.key, chunk.reason)
                if work.on_abandon is not None:
                    work.on_abandon(chunk.reason)
                _count(source, read, delivered, dups, bad)
                return
            keys: list[int] | None = None
            if isinstance(chunk, Packed):
                n = len(chunk.ends)
                first = min(n, max(0, start - done))  # resuming inside it
                if self.enricher is None and not chunk.bad and chunk.max_len <= client.max_record_bytes:
                    run = chunk.keys[first:] if first else chunk.keys
                    skip = dedup.check_keys(run)
                    dropped = set(skip)
                    hashes = [k for i, k in enumerate(run) if i not in dropped] if skip else run
                    marks.run(work, done + first, n - first, skip, hashes)
                    client.send_packed(chunk.data, chunk.ends, [*range(first), *(first + i for i in skip)])
                    done += n
                    read += n - first
                    delivered += len(hashes)
                    dups += len(skip)
                    continue
                # The slow path (an enricher, a record above the plugin's limit): Records again.
                keys = [0] * len(chunk.bad) + chunk.keys
                chunk = [*chunk.bad, *chunk.records()]
            assert isinstance(chunk, list)
            for i, item in enumerate(chunk):
                done += 1
                if done <= start:
                    continue
                if isinstance(item, BadItem):
                    bad += 1
                    quarantine.put(item)
                    marks.skipped(work, done)
                    continue
                read += 1
                h = dedup.check(item.event_id) if keys is None else dedup.check_key(keys[i])
                if h is None:
                    dups += 1
                    marks.skipped(work, done)
                    continue
                if self.enricher is not None:
                    item = self.enricher.process(item)
                marks.record(work, done, h)
                try:
                    client.send(item)
                except InputError as e:
                    marks.unrecord()
                    bad += 1
                    dedup.forget(h)
                    quarantine.put(BadItem(item.origin, str(e), item.raw))
                    marks.skipped(work, done)
                    continue
                delivered += 1
        marks.finished(work, max(done, start))
        _count(source, read, delivered, dups, bad)
        self.report.records += delivered
        self.report.duplicates += dups


def _count(source: str, read: int, delivered: int, dups: int, bad: int) -> None:
    if read:
        m.RECORDS_READ.labels(source=source).inc(read)
    if delivered:
        m.RECORDS_DELIVERED.labels(source=source).inc(delivered)
    if dups:
        m.RECORDS_DEDUPLICATED.labels(source=source).inc(dups)
    if bad:
        m.RECORDS_QUARANTINED.labels(source=source).inc(bad)


def _put(q: queue.Queue[Any], item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def _fill(reading: _Reading) -> None:
    """Reads the Work to its end: once taken by the delivery loop, a Work is always finished."""
    put = reading.chunks.put
    chunk: list[Record | BadItem] = []
    try:
        for item in _items(reading.work):
            if isinstance(item, Packed):  # a whole file, split as bytes: one chunk of its own
                if chunk:
                    put(chunk)
                    chunk = []
                put(item)
                continue
            chunk.append(item)
            if len(chunk) >= _CHUNK_ITEMS:
                put(chunk)
                chunk = []
    except Retry as e:
        if chunk:
            put(chunk)
        put(_Failed(str(e)))
        return
    except Exception as e:  # a bug in a source must not leave the delivery loop waiting forever
        log.exception("%s: reading failed", reading.work.key)
        if chunk:
            put(chunk)
        put(_Failed(f"{type(e).__name__}: {e}"))
        return
    if chunk:
        put(chunk)
    put(_END)


def _items(work: Work) -> Iterator[Record | BadItem | Packed]:
    yield from work.items()


def _drain(reading: _Reading) -> None:
    while True:
        chunk = reading.chunks.get()
        if chunk is _END or isinstance(chunk, _Failed):
            return


def load_config(path: str, environ: dict[str, str] | None = None) -> DaemonConfig:
    from bridge import config as cfgmod

    return from_dict(DaemonConfig, cfgmod.load(path, environ), "")


__all__ = ["Daemon", "DaemonReport", "load_config", "BridgeError"]
