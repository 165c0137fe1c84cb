"""ctbridge forward: receive Falco alerts (HTTP, gRPC) and forward them; no plugin, no CloudTrail."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from dataclasses import dataclass
from typing import Any

from bridge import config as cfgmod
from bridge.errors import ConfigError

log = logging.getLogger("ctbridge")

HELP = "receive Falco alerts and forward them to the configured destinations"
DESCRIPTION = """\
Receive alerts from Falco's http_output (or a falcosidekick webhook output, or Falco <= 0.43's
gRPC output) and forward each one to the destinations its routes name, through a durable queue
per destination. An alert is answered 200 only once it is queued; a full queue answers 503.
Top-level keys of other commands (sources:, falco:, state:, ...) are ignored, so one file can
serve `run` and `forward`.

examples:
  ctbridge forward --config /etc/ctbridge/forward.yaml
  CTBRIDGE__INTAKE__LISTEN=0.0.0.0:2801 ctbridge forward --config forward.yaml
"""


@dataclass(frozen=True, kw_only=True)
class TlsSection:
    cert: str
    key: str
    client_ca: str | None = None


@dataclass(frozen=True, kw_only=True)
class IntakeSection:
    listen: str = "127.0.0.1:2801"  # falcosidekick's port, so a sidekick URL can be reused
    path: str = "/"
    tls: TlsSection | None = None
    secret: str | None = None  # shared secret; env:NAME or file:/path
    secret_header: str = "X-Ctbridge-Secret"
    max_body_bytes: int = 8 * 1024 * 1024
    grpc_target: str | None = None  # Falco <= 0.43: also subscribe to its gRPC output


def split_listen(value: str, where: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"{where}: {value!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE", help="YAML config (intake:, routes:, destinations:, queue:, ops:)")
    p.add_argument("--check", action="store_true", help="validate the config and exit")


def run(args: argparse.Namespace) -> int:
    from bridge.intake.http import HttpIntake
    from bridge.intake.tls import TlsConfig
    from bridge.queue import metrics
    from bridge.route.forwarder import build_forwarder
    from bridge.sinks._base import secret
    from bridge.telemetry.health import OpsServer, Readiness

    data = cfgmod.load(args.config)
    intake_cfg = cfgmod.from_dict(IntakeSection, data.get("intake"), "intake")
    ops: dict[str, Any] = data.get("ops") or {}
    readiness = Readiness()
    fwd = build_forwarder(data, readiness)
    if args.check:
        fwd.close()
        print(f"{args.config}: ok ({len(fwd.stores)} destinations)")
        return 0
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    tls = TlsConfig(intake_cfg.tls.cert, intake_cfg.tls.key, intake_cfg.tls.client_ca) if intake_cfg.tls else None
    host, port = split_listen(intake_cfg.listen, "intake.listen")
    shared = secret(intake_cfg.secret, "intake.secret") if intake_cfg.secret else None
    http = HttpIntake(fwd.handle, host=host, port=port, tls=tls, path=intake_cfg.path, secret=shared,
                      on_alerts=fwd.handle_many, inline=fwd.block_wait == 0,
                      secret_header=intake_cfg.secret_header, max_body=intake_cfg.max_body_bytes,
                      on_count=lambda r: metrics.INTAKE.labels(r).inc())
    ops_server = None
    if ops.get("listen"):
        oh, op = split_listen(str(ops["listen"]), "ops.listen")
        ops_server = OpsServer(oh, op, readiness).start()
    grpc_intake = None
    fwd.start()
    try:
        url = http.start()
        readiness.add("intake", lambda: (True, url))
        log.info("forwarding alerts received at %s to %d destination(s)", url, len(fwd.stores))
        if intake_cfg.grpc_target:
            from bridge.intake.grpc import GrpcIntake

            grpc_intake = GrpcIntake(intake_cfg.grpc_target, lambda alert: fwd.handle_blocking(alert, stop))
            grpc_intake.start()
        stop.wait()
    finally:
        log.info("stopping: intake first, then the destination workers (queued alerts stay queued)")
        if grpc_intake is not None:
            grpc_intake.stop()
        http.stop()
        fwd.close()
        if ops_server is not None:
            ops_server.close()
    return 0



