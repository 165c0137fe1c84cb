"""ctbridge run: the long-running sidecar, following CloudTrail into a running Falco."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.commands._shared import add_shared, tls
from bridge.errors import ConfigError
from bridge.sinks.jsonlines import JsonLinesSink

if TYPE_CHECKING:
    from bridge.daemon import Daemon, DaemonReport
    from bridge.enrich import Enricher
    from bridge.sources._config import DaemonConfig

log = logging.getLogger("ctbridge")

HELP = "read CloudTrail from S3, SQS, ... into a running Falco (the sidecar daemon)"
DESCRIPTION = """\
The long-running sidecar. With --config, reads every source of the config file at once (S3
buckets, SQS queues, the CloudTrail API, CloudWatch Logs, EventBridge over HTTPS, local
directories) into the plugin socket of a running Falco. Progress is committed to SQLite (S3
objects done, SQS messages deleted) only after the plugin has ACKed the records, so a restart
neither loses nor repeats records. Every config key can be set from the environment:
CTBRIDGE__FALCO__SOCKET=/run/x.sock sets falco.socket, CTBRIDGE__SOURCES__0__QUEUE_URL=... sets
sources[0].queue_url. The config reference: docs/configuration.md.

--watch DIR is a shorthand for one local source (follow directories of log files).

examples:
  ctbridge run --config /etc/ctbridge/ctbridge.yaml
  ctbridge check --config /etc/ctbridge/ctbridge.yaml      # validate and test access first
  ctbridge run --watch /var/lib/ctbridge/inbox --falco-socket /run/ctbridge/ingest.sock
  ctbridge run --watch logs/ --falco-socket /run/ctbridge/ingest.sock --once
"""


def add_arguments(f: argparse.ArgumentParser) -> None:
    f.add_argument("--config", metavar="FILE",
                   help="the daemon's YAML config (sources, falco, state, dedup, ops); see docs/configuration.md")
    f.add_argument("--watch", action="append", metavar="DIR",
                   help="directory to follow, recursively (repeatable); without --config")
    f.add_argument("--falco-socket", metavar="PATH",
                   help="the plugin's unix socket in the running Falco (with --config: overrides falco.socket)")
    f.add_argument("--state", default=os.environ.get("CTBRIDGE_STATE", "ctbridge-state.db"), metavar="FILE",
                   help="SQLite checkpoints: how far each file is in Falco (default: $CTBRIDGE_STATE "
                        "or ./ctbridge-state.db)")
    f.add_argument("--poll", type=float, default=10.0, metavar="SECONDS", help="time between scans")
    f.add_argument("--settle", type=float, default=2.0, metavar="SECONDS",
                   help="read a file only once it has not changed for this long")
    f.add_argument("--once", action="store_true", help="scan once, deliver, wait for the alerts, exit")
    add_shared(f)


def run(args: argparse.Namespace) -> int:
    if args.config:
        return _run_config(args)
    if not args.watch or not args.falco_socket:
        raise ConfigError("ctbridge run needs --config FILE, or --watch DIR and --falco-socket PATH")
    return _run_watch(args)


def _run_watch(args: argparse.Namespace) -> int:
    """--watch DIR: the daemon with one `type: local` source (no enrich stage, as before)."""
    from bridge.config import from_dict
    from bridge.daemon import Daemon
    from bridge.sources._config import DaemonConfig

    for w in args.watch:
        if not Path(w).is_dir():
            raise ConfigError(f"--watch {w!r} is not a directory")
    config = from_dict(DaemonConfig, {
        "falco": {"socket": args.falco_socket, "intake": args.intake, "listen": args.listen,
                  "grpc_target": args.grpc_target, "quiet": args.quiet, "connect_timeout": args.timeout},
        "state": {"path": args.state, "quarantine_dir": args.quarantine},
        "sources": [{"type": "local", "name": "watch", "paths": list(args.watch), "poll_interval": args.poll,
                     "settle": args.settle, "once": args.once}],
        "exit_when_idle": bool(args.once), "readers": 1,
    }, "")
    http_tls, grpc_tls = tls(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())  # finish the current file, commit, exit
    daemon = Daemon(config, lambda alert: None, stop, http_tls=http_tls, grpc_tls=grpc_tls)
    with JsonLinesSink(args.out, append=True) as sink:  # a restarted follower appends
        daemon.on_alert = sink
        report = daemon.run()
    log.info("delivered %d records (%d duplicates skipped, %d quarantined); %d alerts",
             report.records, report.duplicates, report.quarantined, report.alerts)
    return 0


def _run_config(args: argparse.Namespace) -> int:
    import dataclasses

    from bridge.daemon import Daemon, load_config  # noqa: F811 (the runtime import of the name)

    if args.watch:
        raise ConfigError("--watch and --config do not go together: add a `type: local` source to the config")
    config = load_config(args.config)
    if config.log.level or config.log.format:  # the command line's --log-level/--log-format win
        from bridge.telemetry import logs

        try:
            logs.setup(args.log_level or config.log.level, args.log_format or config.log.format)
        except ValueError as e:
            raise ConfigError(f"log.level (env CTBRIDGE__LOG__LEVEL): {e}") from None
    if args.falco_socket:
        config = dataclasses.replace(config, falco=dataclasses.replace(config.falco, socket=args.falco_socket))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())  # finish the current work, wait for ACKs, commit
    enricher = _enricher(config)
    daemon = Daemon(config, lambda alert: None, stop, enricher=enricher)
    try:
        if config.destinations:
            report = _run_forwarding(args, config, daemon, stop)
        else:  # no destinations: alerts as JSON lines on stdout or --out
            with JsonLinesSink(args.out, append=True) as on_alert:
                daemon.on_alert = on_alert
                report = daemon.run()
    finally:
        if enricher is not None:
            enricher.close()
    log.info("delivered %d records (%d ACKed, %d duplicates dropped, %d quarantined, %d works done, "
             "%d to be read again); %d alerts", report.records, report.acked, report.duplicates,
             report.quarantined, report.works_done, report.works_abandoned, report.alerts)
    return 0


def _enricher(config: DaemonConfig) -> Enricher | None:
    """enrich: {enabled: true, config: FILE, state: FILE}; on by default with the bundled rules'
    counters, its state next to state.path so counters survive a restart."""
    from bridge import config as cfgmod
    from bridge.enrich import Enricher, load_config as load_enrich

    raw = config.enrich if config.enrich is not None else {}
    section = cfgmod.from_dict(EnrichSection, raw, "enrich")
    if not section.enabled:
        return None
    state = section.state or str(Path(config.state.path).with_name("enrich.db"))
    return Enricher(load_enrich(section.config), state_path=state)


def _run_forwarding(args: argparse.Namespace, config: DaemonConfig, daemon: Daemon,
                    stop: threading.Event) -> DaemonReport:
    """Alerts through routes and durable per-destination queues, as `ctbridge forward` does."""
    from bridge import config as cfgmod
    from bridge.route.forwarder import build_forwarder

    raw = cfgmod.load(args.config)  # the same file and env overrides load_config read
    forwarder = build_forwarder(raw, daemon.readiness)
    forwarder.start()
    # Over HTTP a full queue answers 503 (Falco posts again); gRPC cannot say no, so it waits.
    if config.falco.intake == "http":
        daemon.on_alert = forwarder.handle
    else:
        daemon.on_alert = lambda alert: forwarder.handle_blocking(alert, stop)
    try:
        return daemon.run()
    finally:
        forwarder.close()  # what is still queued stays on disk for the next start


@dataclass(frozen=True)
class EnrichSection:
    enabled: bool = True
    config: str | None = None  # YAML of counters/first_seen/sequences; default: the bundled one
    state: str | None = None  # SQLite file; default: enrich.db next to state.path
