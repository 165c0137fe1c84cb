"""bridge/intake/grpc.py and bridge/intake/tls.py (its TLS settings, shared with the HTTP intake):
what make mutation left unchecked. The gRPC stream itself is covered by tests/intake/test_grpc.py
(a stand-in server) and tests/integration (a real Falco 0.43.1)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.intake.grpc import GrpcIntake, alert_from_response
from bridge.intake.tls import GrpcTls, TlsConfig
from tests.intake.test_grpc import response
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


# --- grpc.py -----------------------------------------------------------------------------------

def test_unknown_enum_numbers_are_kept_as_numbers() -> None:
    assert alert_from_response(response(0, priority=99)).priority == "99"
    assert alert_from_response(response(0, source="", source_deprecated=77)).source == "77"


@pytest.mark.parametrize("output", [
    '{"a": 1}',  # JSON, but no rule: not a Falco alert
    "[1, 2]",
    '{"rule": 5}',  # a Falco alert of the wrong shape
    '{"rule": "X", "output_fields": 5}',
    '{"rule": "X", "tags": "t"}',
])
def test_output_that_is_not_a_falco_alert_is_kept_as_text(output: str) -> None:
    a = alert_from_response(response(0, output=output))
    assert a.output == output and a.rule == "Delete Bucket Encryption" and a.extra == {"intake": "grpc"}
    assert a.output_fields == {"ct.region": "us-east-1", "s3.bucket": "jd-1603127991", "n": "0"}


def test_json_output_wins_over_the_response_fields() -> None:
    a = alert_from_response(response(0, output='{"rule": "X", "output": "o", "priority": "Notice", "tags": ["t"]}'))
    assert (a.rule, a.output, a.priority, a.tags) == ("X", "o", "Notice", ("t",))
    assert a.time == "2020-10-19T17:24:16.000000005Z" and a.hostname == "h"  # from the response


def test_config_errors_in_full() -> None:
    with pytest.raises(ConfigError) as exc:
        GrpcIntake("", lambda a: None)
    assert str(exc.value) == "gRPC intake: empty target; use unix:///path/falco.sock or host:port"
    with pytest.raises(ConfigError) as exc:
        GrpcIntake("unix:///f.sock", lambda a: None, tls=GrpcTls("a", "b", "c"))
    assert str(exc.value) == "gRPC intake: TLS is for TCP targets, not 'unix:///f.sock'"
    for bad in (0, -1.0):
        with pytest.raises(ConfigError) as exc:
            GrpcIntake("unix:///f.sock", lambda a: None, poll_interval=bad)
        assert str(exc.value) == f"gRPC intake: poll_interval must be > 0, got {bad}"
    assert GrpcIntake("unix:///f.sock", lambda a: None, poll_interval=0.001).poll_interval == 0.001


def test_a_new_intake_has_counted_nothing() -> None:
    intake = GrpcIntake("unix:///nonexistent/f.sock", lambda a: None)
    assert (intake.received, intake.failed, intake.connects) == (0, 0, 0)
    intake.stop()  # never started: nothing to join
