"""ctbridge run: the long-running sidecar, following CloudTrail into a running Falco."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path

from bridge.commands._shared import add_shared, tls
from bridge.errors import ConfigError
from bridge.sinks.jsonlines import JsonLinesSink

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
    from bridge.follow import FollowOptions, follow

    http_tls, grpc_tls = tls(args)
    opts = FollowOptions(
        http_tls=http_tls, grpc_tls=grpc_tls,
        watch=args.watch, falco_socket=args.falco_socket, state=args.state, intake=args.intake,
        listen=args.listen, grpc_target=args.grpc_target, poll=args.poll, settle=args.settle,
        once=args.once, quiet=args.quiet, timeout=args.timeout,
        quarantine_dir=Path(args.quarantine) if args.quarantine else None,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())  # finish the current file, commit, exit
    with JsonLinesSink(args.out, append=True) as sink:  # a restarted follower appends
        report = follow(opts, sink, stop)
    log.info("delivered %d records (%d duplicates skipped, %d quarantined); %d alerts",
             report.records, report.duplicates, report.quarantined, report.alerts)
    return 0


def _run_config(args: argparse.Namespace) -> int:
    import dataclasses

    from bridge.daemon import Daemon, load_config

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
    # The alert hand-off: one callable per alert (the forwarder plugs in here; default JSON lines).
    with JsonLinesSink(args.out, append=True) as on_alert:
        report = Daemon(config, on_alert, stop).run()
    log.info("delivered %d records (%d ACKed, %d duplicates dropped, %d quarantined, %d works done, "
             "%d to be read again); %d alerts", report.records, report.acked, report.duplicates,
             report.quarantined, report.works_done, report.works_abandoned, report.alerts)
    return 0
