"""bridge/intake/grpc.py and bridge/intake/tls.py (its TLS settings, shared with the HTTP intake):
what make mutation left unchecked. The gRPC stream itself is covered by tests/intake/test_grpc.py
(a stand-in server) and tests/integration (a real Falco 0.43.1)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.intake.tls import GrpcTls, TlsConfig
from tests.pki import make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_server_context_requires_client_certs_only_with_a_client_ca(pki: Path) -> None:
    plain = TlsConfig(str(pki / "server.pem"), str(pki / "server.key")).server_context()
    assert plain.verify_mode == ssl.CERT_NONE and plain.minimum_version == ssl.TLSVersion.TLSv1_2
    mtls = TlsConfig(str(pki / "server.pem"), str(pki / "server.key"), str(pki / "ca.pem")).server_context()
    assert mtls.verify_mode == ssl.CERT_REQUIRED and mtls.minimum_version == ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in mtls.get_ca_certs()] == [((("commonName", "test-ca"),),)]


def test_tls_config_errors_name_the_files(pki: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(ConfigError) as exc:
        TlsConfig(missing, str(pki / "server.key")).server_context()
    assert str(exc.value).startswith(f"TLS cert {missing!r} / key {str(pki / 'server.key')!r}: cannot load: ")
    with pytest.raises(ConfigError) as exc:
        TlsConfig(str(pki / "server.pem"), str(pki / "server.key"), missing).server_context()
    assert str(exc.value).startswith(f"TLS client_ca {missing!r}: cannot load: ")
    not_pem = tmp_path / "garbage.pem"
    not_pem.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"^TLS client_ca .*: cannot load: "):
        TlsConfig(str(pki / "server.pem"), str(pki / "server.key"), str(not_pem)).server_context()


def test_grpc_tls_reads_ca_key_cert_in_that_order(tmp_path: Path) -> None:
    for name in ("ca", "key", "cert"):
        (tmp_path / name).write_bytes(name.encode())
    tls = GrpcTls(ca=str(tmp_path / "ca"), cert=str(tmp_path / "cert"), key=str(tmp_path / "key"))
    assert tls.read() == (b"ca", b"key", b"cert")
    for field, what in (("ca", "gRPC TLS ca"), ("key", "gRPC TLS key"), ("cert", "gRPC TLS cert")):
        paths = {"ca": str(tmp_path / "ca"), "cert": str(tmp_path / "cert"), "key": str(tmp_path / "key")}
        paths[field] = str(tmp_path / "missing")
        with pytest.raises(ConfigError) as exc:
            GrpcTls(**paths).read()
        assert str(exc.value) == f"{what} {paths[field]!r}: cannot read: No such file or directory"
