"""Command line.

  ctbridge replay PATH... [--rules FILE_OR_DIR]... [--out FILE]   one-shot, Falco launched or a sidecar
  ctbridge run --watch DIR --falco-socket PATH [--state FILE]      follow directories into a sidecar Falco
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path


from bridge import __version__
from bridge.errors import BridgeError, ConfigError, FalcoNotFound
from bridge.intake.tls import GrpcTls, TlsConfig
from bridge.sinks.jsonlines import JsonLinesSink
from bridge.telemetry import logs

log = logging.getLogger("ctbridge")

_REPO = Path(__file__).resolve().parent.parent
_PLUGIN_CANDIDATES = (
    _REPO / "build" / "plugin" / "libctbridge.so",
    Path("/usr/share/ctbridge/plugins/libctbridge.so"),  # the bridge image
    Path("/usr/share/falco/plugins/libctbridge.so"),
)
_RULES_CANDIDATES = (_REPO / "rules", Path("/usr/share/ctbridge/rules"), Path("/etc/ctbridge/rules"))


def default_plugin() -> str:
    env = os.environ.get("CTBRIDGE_PLUGIN")
    if env:
        return env
    for c in _PLUGIN_CANDIDATES:
        if c.is_file():
            return str(c)
    return str(_PLUGIN_CANDIDATES[0])


def default_rules() -> list[str]:
    for c in _RULES_CANDIDATES:
        if c.is_dir():
            return [str(c)]
    return [str(_RULES_CANDIDATES[0])]


def _add_shared(p: argparse.ArgumentParser) -> None:
    """Options replay and run have in common: how alerts come back, where they go, bad input."""
    p.add_argument("--out", metavar="FILE", help="write alerts here as JSON lines (default: stdout)")
    p.add_argument("--intake", choices=("http", "grpc"), default="http",
                   help="how alerts come back: http_output (every Falco) or gRPC (Falco <= 0.43)")
    p.add_argument("--listen", default="127.0.0.1:2802", metavar="HOST:PORT",
                   help="with --falco-socket: where to receive Falco's http_output")
    p.add_argument("--grpc-target", metavar="TARGET",
                   help="with --falco-socket and --intake grpc: that Falco's gRPC server "
                        "(unix:///run/falco/falco.sock or HOST:PORT)")
    p.add_argument("--tls-cert", metavar="PEM", help="serve the http_output receiver over HTTPS with this cert")
    p.add_argument("--tls-key", metavar="PEM", help="the key of --tls-cert")
    p.add_argument("--tls-client-ca", metavar="PEM",
                   help="require client certificates signed by this CA (Falco's http_output mtls)")
    p.add_argument("--grpc-ca", metavar="PEM", help="gRPC over TCP: the CA that signed Falco's server cert")
    p.add_argument("--grpc-cert", metavar="PEM", help="gRPC over TCP: our client cert (Falco requires mTLS)")
    p.add_argument("--grpc-key", metavar="PEM", help="gRPC over TCP: the key of --grpc-cert")
    p.add_argument("--quarantine", metavar="DIR", help="write unusable input items here with the reason")
    p.add_argument("--quiet", type=float, default=2.0, metavar="SECONDS",
                   help="with a sidecar or gRPC: wait this long without alerts before exiting")
    p.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                   help="upper bound for connecting to the plugin and for its ACKs")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ctbridge", description=__doc__)
    p.add_argument("--version", action="version", version=f"ctbridge {__version__}")
    p.add_argument("--log-level", default=os.environ.get("CTBRIDGE_LOG_LEVEL", "info"))
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("replay", help="replay local CloudTrail files through Falco and print the alerts")
    r.add_argument("paths", nargs="+", metavar="PATH",
                   help="CloudTrail log files (.json, .json.gz), JSON lines (.jsonl[.gz]), "
                        "EventBridge events, or directories of them")
    r.add_argument("--rules", action="append", metavar="FILE_OR_DIR",
                   help="Falco rules file or directory (repeatable; default: the bundled rules/)")
    r.add_argument("--plugin", default=None, metavar="SO",
                   help="path of libctbridge.so (default: $CTBRIDGE_PLUGIN or build/plugin/libctbridge.so)")
    r.add_argument("--falco-socket", metavar="PATH",
                   help="plugin socket of an already running Falco (sidecar); Falco's http_output "
                        "must post to --listen")
    r.add_argument("--falco-binary", metavar="PATH",
                   help="Falco binary to launch (default: $FALCO_BINARY, then `falco` on PATH, then Docker)")
    r.add_argument("--falco-image", default=None, metavar="IMAGE",
                   help="image used when Falco runs in Docker (default: falcosecurity/falco:0.45.0)")
    r.add_argument("--read-workers", type=int, default=2, metavar="N",
                   help="processes that decompress and parse the input files (default 2; 1 = none)")
    r.add_argument("--end-stream", action="store_true",
                   help="with --falco-socket: send end-of-stream when done (a plugin-only Falco then exits)")
    _add_shared(r)

    f = sub.add_parser("run", help="follow directories of CloudTrail logs into a running Falco (sidecar)")
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
    _add_shared(f)
    return p


def _tls(args: argparse.Namespace) -> tuple[TlsConfig | None, GrpcTls | None]:
    """The intake TLS settings; a partial set is an error naming what is missing."""
    http_tls = grpc_tls = None
    if args.tls_cert or args.tls_key or args.tls_client_ca:
        if not (args.tls_cert and args.tls_key):
            raise ConfigError("--tls-cert and --tls-key go together (and --tls-client-ca needs both)")
        http_tls = TlsConfig(args.tls_cert, args.tls_key, args.tls_client_ca)
    given = [args.grpc_ca, args.grpc_cert, args.grpc_key]
    if any(given):
        if not all(given):
            raise ConfigError("--grpc-ca, --grpc-cert and --grpc-key go together (Falco's gRPC is mTLS)")
        grpc_tls = GrpcTls(args.grpc_ca, args.grpc_cert, args.grpc_key)
    return http_tls, grpc_tls


def _run(args: argparse.Namespace) -> int:
    from bridge.follow import FollowOptions, follow

    http_tls, grpc_tls = _tls(args)
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


def _replay(args: argparse.Namespace) -> int:
    from bridge.app import DEFAULT_IMAGE, ReplayOptions, replay

    http_tls, grpc_tls = _tls(args)
    opts = ReplayOptions(
        http_tls=http_tls, grpc_tls=grpc_tls,
        paths=args.paths,
        rules=args.rules or default_rules(),
        plugin_path=args.plugin or default_plugin(),
        falco_socket=args.falco_socket,
        falco_binary=args.falco_binary,
        falco_image=args.falco_image or DEFAULT_IMAGE,
        intake=args.intake,
        listen=args.listen,
        grpc_target=args.grpc_target,
        end_stream=args.end_stream,
        read_workers=args.read_workers,
        quarantine_dir=Path(args.quarantine) if args.quarantine else None,
        quiet=args.quiet,
        timeout=args.timeout,
    )
    with JsonLinesSink(args.out) as sink:
        report = replay(opts, sink)
    log.info(
        "replayed %d records (%d duplicates skipped, %d quarantined); %d alerts from %s",
        report.records, report.duplicates, report.quarantined, report.alerts, report.falco,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        logs.setup(args.log_level)
    except ValueError as exc:
        print(f"ctbridge: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "replay":
            return _replay(args)
        if args.command == "run":
            return _run(args)
    except FalcoNotFound as exc:
        print(f"ctbridge: no Falco to run against.\n{exc}", file=sys.stderr)
        return 3
    except ConfigError as exc:
        print(f"ctbridge: {exc}", file=sys.stderr)
        return 2
    except BridgeError as exc:
        print(f"ctbridge: {exc}", file=sys.stderr)
        return 1
    return 2
