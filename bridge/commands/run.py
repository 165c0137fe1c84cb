"""ctbridge run: the long-running sidecar, following CloudTrail into a running Falco."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path

from bridge.commands._shared import add_shared, tls
from bridge.sinks.jsonlines import JsonLinesSink

log = logging.getLogger("ctbridge")

HELP = "follow CloudTrail into a running Falco (the sidecar daemon)"
DESCRIPTION = """\
Follow directories of CloudTrail log files into the plugin socket of a running Falco (the
Kubernetes sidecar shape). Each file's progress is checkpointed in SQLite only after the plugin
has ACKed its records, so a restart neither loses nor repeats records.

examples:
  ctbridge run --watch /var/lib/ctbridge/inbox --falco-socket /run/ctbridge/ingest.sock
  ctbridge run --watch logs/ --falco-socket /run/ctbridge/ingest.sock --once
"""


def add_arguments(f: argparse.ArgumentParser) -> None:
    f.add_argument("--watch", action="append", required=True, metavar="DIR",
                   help="directory to follow, recursively (repeatable)")
    f.add_argument("--falco-socket", required=True, metavar="PATH",
                   help="the plugin's unix socket in the running Falco")
    f.add_argument("--state", default=os.environ.get("CTBRIDGE_STATE", "ctbridge-state.db"), metavar="FILE",
                   help="SQLite checkpoints: how far each file is in Falco (default: $CTBRIDGE_STATE "
                        "or ./ctbridge-state.db)")
    f.add_argument("--poll", type=float, default=10.0, metavar="SECONDS", help="time between scans")
    f.add_argument("--settle", type=float, default=2.0, metavar="SECONDS",
                   help="read a file only once it has not changed for this long")
    f.add_argument("--once", action="store_true", help="scan once, deliver, wait for the alerts, exit")
    add_shared(f)


def run(args: argparse.Namespace) -> int:
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
