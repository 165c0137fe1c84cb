"""`ctbridge run`: follow local directories of CloudTrail logs into a running (sidecar) Falco.

New files are read once they have stopped changing, their records streamed to the plugin, and
each file's progress is committed to SQLite only when the plugin has ACKed the records (Falco took
them), so a restart neither loses nor repeats records; after a SIGKILL, the journal
(bridge/deliver/journal.py) commits what the still-running plugin had received. Alerts come back through the intake and
are emitted as they arrive.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bridge.app import Collector, ReplayReport, start_intake, wait_quiet
from bridge.deliver.checkpoints import Checkpoints
from bridge.deliver.journal import Journal
from bridge.deliver.socket_client import PluginClient
from bridge.errors import ConfigError, InputError
from bridge.intake.tls import GrpcTls, TlsConfig
from bridge.model import Alert, BadItem, Blob
from bridge.normalize.dedup import Dedup
from bridge.normalize.logfile import records_from_blob
from bridge.normalize.quarantine import Quarantine
from bridge.sources.local import wanted

log = logging.getLogger("ctbridge.run")


@dataclass
class FollowOptions:
    watch: Sequence[str]
    falco_socket: str
    state: str = "ctbridge-state.db"
    intake: str = "http"
    listen: str = "127.0.0.1:2802"
    grpc_target: str | None = None
    http_tls: TlsConfig | None = None
    grpc_tls: GrpcTls | None = None
    poll: float = 10.0  # seconds between directory scans
    settle: float = 2.0  # a file modified more recently than this is read on a later scan
    once: bool = False  # scan once, deliver, wait for the ACKs and alerts, exit
    quiet: float = 2.0
    quarantine_dir: Path | None = None
    timeout: float = 600.0


class _Progress:
    """Maps the client's cumulative ACK count back to (file, items handled) checkpoints."""

    def __init__(self, checkpoints: Checkpoints) -> None:
        self._cp = checkpoints
        self.journal = Journal(checkpoints)  # positions of batches sealed but not yet ACKed
        self._sent = 0  # records sent so far (the client counts ACKs in the same order)
        # (records sent when this mark was made, file, items handled, file complete)
        self._marks: deque[tuple[int, str, int, bool]] = deque()

    def sent(self, name: str, done: int) -> None:
        """Made before the record goes to the client: sending it may seal its batch."""
        self._sent += 1
        self._marks.append((self._sent, name, done, False))
        self.journal.note(self._sent, name, done, False, 0)

    def unsent(self) -> None:
        """The client refused the record just marked (InputError): it joined no batch."""
        self._marks.pop()
        self.journal.unnote()
        self._sent -= 1

    def skipped(self, name: str, done: int) -> None:
        # A quarantined or duplicate item is handled once everything sent before it is ACKed.
        self._marks.append((self._sent, name, done, False))
        self.journal.note(self._sent, name, done, False, 0)

    def finished(self, name: str, done: int) -> None:
        self._marks.append((self._sent, name, done, True))
        self.journal.note(self._sent, name, done, True, 0)

    def settle(self) -> None:
        """Everything sent is ACKed (after wait_acked): commit every mark, skipped-only files too."""
        self.on_ack(self._sent)

    def on_ack(self, acked: int) -> None:
        last: dict[str, tuple[int, bool]] = {}
        while self._marks and self._marks[0][0] <= acked:
            _, name, done, complete = self._marks.popleft()
            last[name] = (done, complete)
        with self._cp.transaction():
            for name, (done, complete) in last.items():
                self._cp.advance(name, done, complete)
            self.journal.acked(acked)


def _scan(roots: Sequence[Path], settle: float, complete: set[str]) -> Iterator[Path]:
    """Files under the roots, sorted, skipping finished ones and ones still being written."""
    now = time.time()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if not wanted(name) or str(path) in complete:
                    continue
                try:
                    if now - path.stat().st_mtime < settle:
                        continue
                except OSError:
                    continue  # vanished between listing and stat
                yield path


def follow(opts: FollowOptions, emit: Callable[[Alert], None], stop: threading.Event | None = None) -> ReplayReport:
    roots = [Path(w) for w in opts.watch]
    for r in roots:
        if not r.is_dir():
            raise ConfigError(f"--watch {str(r)!r} is not a directory")
    stop = stop or threading.Event()
    report = ReplayReport(falco=f"running Falco, plugin socket {opts.falco_socket}")
    collector = Collector(emit, report)
    quarantine = Quarantine(opts.quarantine_dir)
    with ExitStack() as stack:
        checkpoints = Checkpoints(opts.state)
        stack.callback(checkpoints.close)
        received = start_intake(opts.intake, opts.listen, opts.grpc_target, collector, report, stack,
                                http_tls=opts.http_tls, grpc_tls=opts.grpc_tls)
        progress = _Progress(checkpoints)
        client = stack.enter_context(
            PluginClient(opts.falco_socket, connect_timeout=opts.timeout, on_ack=progress.on_ack,
                         on_seal=progress.journal.on_seal))
        client.connect()
        assert client.instance_id is not None
        progress.journal.recover(client.instance_id, client.welcome_last_seq)  # before any position is read
        dedup = Dedup()
        while not stop.is_set():
            for path in _scan(roots, opts.settle, checkpoints.complete_names()):
                if stop.is_set():
                    break
                _send_file(path, client, checkpoints, progress, dedup, quarantine, report)
            client.wait_acked(opts.timeout)
            progress.settle()
            if opts.once:
                break
            stop.wait(opts.poll)
        client.wait_acked(opts.timeout)
        progress.settle()
        wait_quiet(received, opts.quiet)
    report.quarantined = quarantine.count
    return report


def _send_file(path: Path, client: PluginClient, checkpoints: Checkpoints, progress: _Progress,
               dedup: Dedup, quarantine: Quarantine, report: ReplayReport) -> None:
    name = str(path)
    start, _ = checkpoints.position(name)
    try:
        data = path.read_bytes()
    except OSError as e:
        quarantine.put(BadItem(name, f"{name}: cannot read: {e.strerror or e}"))
        progress.finished(name, 0)
        return
    if start:
        log.info("%s: resuming after %d items already in Falco", name, start)
    done = 0
    for done, item in enumerate(records_from_blob(Blob(name, data)), start=1):
        if done <= start:
            continue
        if isinstance(item, BadItem):
            quarantine.put(item)
            progress.skipped(name, done)
            continue
        if dedup.seen(item):
            report.duplicates += 1
            progress.skipped(name, done)
            continue
        progress.sent(name, done)
        try:
            client.send(item)
        except InputError as e:
            progress.unsent()
            quarantine.put(BadItem(item.origin, str(e), item.raw))
            progress.skipped(name, done)
            continue
        report.records += 1
    progress.finished(name, max(done, start))
