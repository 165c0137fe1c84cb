"""Options and defaults shared by several commands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bridge import resources
from bridge.errors import ConfigError
from bridge.intake.tls import GrpcTls, TlsConfig

_REPO = Path(__file__).resolve().parents[2]
_PLUGIN_CANDIDATES = (
    _REPO / "build" / "plugin" / "libctbridge.so",
    Path("/usr/share/ctbridge/plugins/libctbridge.so"),  # the bridge image
    Path("/usr/share/falco/plugins/libctbridge.so"),
)
_RULES_CANDIDATES = (Path("/usr/share/ctbridge/rules"), Path("/etc/ctbridge/rules"))


def default_plugin() -> str:
    env = os.environ.get("CTBRIDGE_PLUGIN")
    if env:
        return env
    for c in _PLUGIN_CANDIDATES:
        if c.is_file():
            return str(c)
    return str(_PLUGIN_CANDIDATES[0])


def default_rules() -> list[str]:
    """$CTBRIDGE_RULES_DIR, the rules shipped with the package (or the checkout), then system folders."""
    try:
        return [str(resources.rules_dir())]
    except ConfigError:
        pass
    for c in _RULES_CANDIDATES:
        if c.is_dir():
            return [str(c)]
    return [str(_RULES_CANDIDATES[0])]


def add_shared(p: argparse.ArgumentParser) -> None:
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


def tls(args: argparse.Namespace) -> tuple[TlsConfig | None, GrpcTls | None]:
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


