"""Replay: local CloudTrail files -> ctbridge plugin inside a real Falco -> alerts.

Wires the stages together: sources.local -> normalize -> deliver -> Falco -> intake -> emit.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.deliver.packed import Big, file_items, packed_files, record_key
from bridge.deliver.socket_client import PluginClient
from bridge.enrich import EnrichConfig, Enricher
from bridge.errors import BridgeError, ConfigError, InputError
from bridge.falco.locate import FalcoTarget, has_grpc_output, image_tag_version, locate, target_version
from bridge.falco.runner import FalcoRun
from bridge.intake.http import HttpIntake
from bridge.intake.tls import GrpcTls, TlsConfig
from bridge.model import Alert, BadItem, Record
from bridge.normalize.dedup import Dedup
from bridge.normalize.logfile import DEFAULT_MAX_RECORD_BYTES
from bridge.normalize.quarantine import Quarantine
from bridge.sources.local import iter_local_records
from bridge.sources.remote import Window, is_remote, iter_inputs
from bridge.sources.remote import check as check_remote

if TYPE_CHECKING:  # grpc and the Falco protos load only when the gRPC intake is used (~55 ms of start-up)
    from bridge.intake.grpc import GrpcIntake

log = logging.getLogger("ctbridge.replay")

DEFAULT_IMAGE = "falcosecurity/falco:0.45.0"


@dataclass
class ReplayOptions:
    paths: Sequence[str]
    rules: Sequence[str]
    plugin_path: str
    falco_socket: str | None = None  # a running Falco whose plugin listens here (sidecar)
    falco_binary: str | None = None
    falco_image: str = DEFAULT_IMAGE
    intake: str = "http"  # "http" (every Falco) or "grpc" (Falco <= 0.43)
    listen: str = "127.0.0.1:2802"  # sidecar mode: where that Falco's http_output posts
    grpc_target: str | None = None  # sidecar mode with --intake grpc: that Falco's gRPC server
    http_tls: TlsConfig | None = None  # sidecar mode: serve the http_output receiver over HTTPS
    grpc_tls: GrpcTls | None = None  # sidecar mode: mTLS to a gRPC server on TCP
    end_stream: bool = False  # sidecar mode: send END when done, so a plugin-only Falco exits
    quarantine_dir: Path | None = None
    quiet: float = 2.0  # sidecar and gRPC: wait this long without alerts after the last ACK
    timeout: float = 600.0
    read_workers: int = 2  # processes that decompress and parse files; 1 = in this process
    enrich: EnrichConfig | None = None  # counters/first-seen/sequences into "ctb"; None = off
    enrich_state: Path | None = None  # SQLite file that keeps the enrichment state across runs
    window: Window | None = None  # s3:// and cloudtrail-api:// inputs: time window, accounts, regions
    on_item: Callable[[Record | BadItem], None] | None = None  # sees every item read (progress bar)


@dataclass
class ReplayReport:
    records: int = 0
    duplicates: int = 0
    quarantined: int = 0
    alerts: int = 0
    internal: int = 0
    falco: str = ""
    rules_seen: dict[str, int] = field(default_factory=dict)


class Collector:
    """Receives alerts from any intake thread and emits them one at a time, in arrival order."""

    def __init__(self, emit: Callable[[Alert], None], report: ReplayReport) -> None:
        self._emit = emit
        self._report = report
        self._lock = threading.Lock()

    def __call__(self, alert: Alert) -> None:
        with self._lock:
            if alert.source == "internal":
                # Falco's own notices (e.g. output timeouts) go to every output; they are not detections.
                self._report.internal += 1
                log.warning("falco: %s", alert.output)
                return
            self._report.alerts += 1
            self._report.rules_seen[alert.rule] = self._report.rules_seen.get(alert.rule, 0) + 1
            self._emit(alert)


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:2802")
    return host or "127.0.0.1", int(port)


def _check_inputs(opts: ReplayOptions) -> None:
    for p in opts.paths:
        if is_remote(p):
            check_remote(p, opts.window or Window())
        elif not Path(p).exists():
            raise ConfigError(f"input {p!r} does not exist")
    for r in opts.rules:
        if not Path(r).exists():
            raise ConfigError(f"--rules {r!r} does not exist")
    if opts.intake not in ("http", "grpc"):
        raise ConfigError(f"--intake {opts.intake!r}: use http or grpc")


def _records(opts: ReplayOptions, quarantine: Quarantine, report: ReplayReport) -> Iterator[Record]:
    dedup = Dedup()
    enricher = Enricher(opts.enrich, opts.enrich_state) if opts.enrich is not None else None
    try:
        items = iter_inputs(opts.paths, opts.window or Window(), quarantine,
                            lambda paths: iter_local_records(paths, workers=opts.read_workers))
        for item in items:
            if opts.on_item is not None:
                opts.on_item(item)
            if isinstance(item, BadItem):
                quarantine.put(item)
                continue
            if dedup.seen(item):
                report.duplicates += 1
                continue
            yield enricher.process(item) if enricher else item
    finally:
        if enricher:
            enricher.close()


def _fast_path(opts: ReplayOptions) -> bool:
    """Replay sends records as CloudTrail wrote them, split in the read workers, unless the
    enricher has to parse each one or an input is remote."""
    return opts.enrich is None and not any(is_remote(p) for p in opts.paths)


def _stream_packed(client: PluginClient, opts: ReplayOptions, quarantine: Quarantine,
                   report: ReplayReport) -> None:
    """The fast path: workers gunzip and split files into BATCH entries; here only the eventID
    dedup runs per record, and runs of records are copied into batches as byte ranges."""
    dedup = Dedup()
    seen = dedup.seen_key
    client.connect()
    for unit in packed_files(opts.paths, workers=opts.read_workers):
        if isinstance(unit, BadItem):
            if opts.on_item is not None:
                opts.on_item(unit)
            quarantine.put(unit)
            continue
        if isinstance(unit, Big):  # streamed record by record, in bounded memory
            for item in file_items(unit.path, DEFAULT_MAX_RECORD_BYTES):
                if opts.on_item is not None:
                    opts.on_item(item)
                if isinstance(item, BadItem):
                    quarantine.put(item)
                elif item.event_id and seen(record_key(item.event_id)):
                    report.duplicates += 1
                else:
                    _send_one(client, item, quarantine, report)
            continue
        for bad in unit.bad:
            quarantine.put(bad)
        if opts.on_item is not None:
            for bad in unit.bad:
                opts.on_item(bad)
            for rec in unit.records():
                opts.on_item(rec)
        skip = dedup.seen_keys(unit.keys)
        report.duplicates += len(skip)
        if unit.max_len > client.max_record_bytes:
            dropped = set(skip)
            for i, rec in enumerate(unit.records()):
                if i not in dropped:
                    _send_one(client, rec, quarantine, report)
            continue
        report.records += client.send_packed(unit.data, unit.ends, skip)


def _send_one(client: PluginClient, record: Record, quarantine: Quarantine, report: ReplayReport) -> None:
    try:
        client.send(record)
    except InputError as exc:
        quarantine.put(BadItem(record.origin, str(exc), record.raw))
        return
    report.records += 1


def _stream(client: PluginClient, records: Iterator[Record], quarantine: Quarantine,
            report: ReplayReport) -> None:
    for record in records:
        try:
            client.send(record)
        except InputError as exc:
            quarantine.put(BadItem(record.origin, str(exc), record.raw))
            continue
        report.records += 1


def replay(opts: ReplayOptions, emit: Callable[[Alert], None]) -> ReplayReport:
    """Run one replay; every alert is passed to `emit` as it arrives."""
    _check_inputs(opts)
    if not Path(opts.plugin_path).is_file() and opts.falco_socket is None:
        raise ConfigError(f"plugin library {opts.plugin_path!r} not found (build it with `make plugin`)")
    target = locate(opts.falco_socket, falco_binary=opts.falco_binary, docker_image=opts.falco_image)
    report = ReplayReport(falco=_describe(target))
    collector = Collector(emit, report)
    quarantine = Quarantine(opts.quarantine_dir)
    log.info("falco: %s", report.falco)

    with ExitStack() as stack:
        if target.kind == "socket":
            _replay_sidecar(opts, target, collector, quarantine, report, stack)
        else:
            _replay_launched(opts, target, collector, quarantine, report, stack)
    report.quarantined = quarantine.count
    return report


def _describe(target: FalcoTarget) -> str:
    if target.kind == "socket":
        return f"running Falco, plugin socket {target.socket}"
    if target.kind == "binary":
        return f"binary {target.binary}"
    return f"docker image {target.image}"


def _replay_sidecar(opts: ReplayOptions, target: FalcoTarget, collector: Collector,
                    quarantine: Quarantine, report: ReplayReport, stack: ExitStack) -> None:
    # A sidecar Falco keeps running: END would make a plugin-only Falco exit, so it is sent only
    # with --end-stream. Done means: every batch ACKed (Falco evaluated it), then no new alert
    # for `quiet` seconds.
    intake_stack = stack.enter_context(ExitStack())
    received = start_intake(opts.intake, opts.listen, opts.grpc_target, collector, report, intake_stack,
                            http_tls=opts.http_tls, grpc_tls=opts.grpc_tls)
    assert target.socket is not None
    client = stack.enter_context(PluginClient(target.socket, connect_timeout=opts.timeout))
    client.connect()
    if _fast_path(opts):
        _stream_packed(client, opts, quarantine, report)
    else:
        _stream(client, _records(opts, quarantine, report), quarantine, report)
    client.wait_acked(opts.timeout)
    wait_quiet(received, opts.quiet)
    if opts.end_stream:
        if opts.intake == "grpc":
            intake_stack.close()  # hang up before END makes Falco shut its gRPC server down (see above)
        client.finish(opts.timeout)


def start_intake(intake: str, listen: str, grpc_target: str | None, collector: Collector,
                 report: ReplayReport, stack: ExitStack, *, http_tls: TlsConfig | None = None,
                 grpc_tls: GrpcTls | None = None) -> Callable[[], int]:
    """Alert intake for a Falco the bridge did not launch; returns a count of alerts received."""
    if intake == "grpc":
        if not grpc_target:
            raise ConfigError("--intake grpc with --falco-socket needs --grpc-target "
                              "(that Falco's gRPC server, e.g. unix:///run/falco/falco.sock)")
        if not grpc_target.startswith("unix:") and grpc_tls is None:
            raise ConfigError(f"--grpc-target {grpc_target}: Falco's gRPC server on TCP requires mTLS; "
                              "give --grpc-ca, --grpc-cert and --grpc-key (or use its unix socket)")
        from bridge.intake.grpc import GrpcIntake

        grpc_intake = GrpcIntake(grpc_target, collector, tls=grpc_tls)
        grpc_intake.start()
        stack.callback(grpc_intake.stop)
        return lambda: report.alerts + report.internal
    host, port = parse_listen(listen)
    if http_tls is None and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("receiving alerts over plain HTTP on %s: use --tls-cert/--tls-key where traffic "
                    "leaves the pod", listen)
    http = HttpIntake(collector, host=host, port=port, tls=http_tls)
    http.start()
    stack.callback(http.stop)
    return lambda: http.received


def _replay_launched(opts: ReplayOptions, target: FalcoTarget, collector: Collector,
                     quarantine: Quarantine, report: ReplayReport, stack: ExitStack) -> None:
    grpc = opts.intake == "grpc"
    if grpc:
        # Image tags say their version; otherwise ask Falco itself (a binary, or an untagged image).
        version = image_tag_version(target.image) if target.kind == "docker" and target.image else None
        version = version or target_version(target)
        if not has_grpc_output(version):
            raise ConfigError(f"Falco {'.'.join(map(str, version))} has no gRPC output "
                              "(removed in 0.44.0); use --intake http, or --falco-image "
                              "falcosecurity/falco:0.43.1")
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ctbridge-")))
    http: HttpIntake | None = None
    if not grpc:
        http = HttpIntake(collector)
        http_url = http.start()
        stack.callback(http.stop)
    else:
        http_url = None
    run = stack.enter_context(FalcoRun(target, plugin_path=opts.plugin_path, rules=list(opts.rules),
                                       http_url=http_url, workdir=workdir, grpc=grpc))
    grpc_intake: GrpcIntake | None = None
    if grpc:
        assert run.grpc_target is not None
        from bridge.intake.grpc import GrpcIntake

        grpc_intake = GrpcIntake(run.grpc_target, collector)
        grpc_intake.start()
        stack.callback(grpc_intake.stop)

    with PluginClient(str(run.socket_path), connect_timeout=opts.timeout) as client:
        client.connect()
        if _fast_path(opts):
            _stream_packed(client, opts, quarantine, report)
        else:
            _stream(client, _records(opts, quarantine, report), quarantine, report)
        if grpc_intake is not None:
            # Falco's gRPC queue dies with Falco: drain it before END lets Falco exit.
            client.wait_acked(opts.timeout)
            grpc_intake.drain(opts.quiet)
            # Hang up before Falco shuts its gRPC server down: Falco 0.43.1 (built with Debian's
            # gRPC 1.51) aborts in 3 of 8 runs on a sub stream still open at that moment.
            grpc_intake.stop()
        client.finish(opts.timeout)
    rc = run.wait(opts.timeout)
    if rc != 0:
        raise BridgeError(f"Falco exited with status {rc}:\n{_tail(run.log_text())}")


def wait_quiet(counter: Callable[[], int], quiet: float) -> None:
    last = counter()
    deadline = time.monotonic() + quiet
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = counter()
        if now != last:
            last = now
            deadline = time.monotonic() + quiet


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])
