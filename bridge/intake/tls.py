"""TLS settings for the alert intakes."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import ConfigError


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"{what} {path!r}: cannot read: {e.strerror or e}") from None


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Server certificate for the HTTP intake; with client_ca, clients must present a cert it signed (mTLS)."""

    cert: str
    key: str
    client_ca: str | None = None

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"TLS cert {self.cert!r} / key {self.key!r}: cannot load: {e}") from None
        if self.client_ca is not None:
            try:
                ctx.load_verify_locations(cafile=self.client_ca)
            except (OSError, ssl.SSLError) as e:
                raise ConfigError(f"TLS client_ca {self.client_ca!r}: cannot load: {e}") from None
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


@dataclass(frozen=True, slots=True)
class GrpcTls:
    """mTLS for Falco's gRPC server over TCP: the CA that signed Falco's cert, and our client cert/key."""

    ca: str
    cert: str
    key: str

    def read(self) -> tuple[bytes, bytes, bytes]:
        """(root CA, client key, client cert chain) as PEM bytes."""
        return _read(self.ca, "gRPC TLS ca"), _read(self.key, "gRPC TLS key"), _read(self.cert, "gRPC TLS cert")
