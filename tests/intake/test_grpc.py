"""GrpcIntake against a real gRPC server on a unix socket.

The server below stands in for Falco's gRPC server (falco.outputs.service / falco.version.service,
built from our own protos). It hands out alerts the way Falco 0.43.1 does: only when it reads a
request from the client's stream. tests/integration covers a real Falco 0.43.1.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from bridge.errors import ConfigError, FalcoNotFound
from bridge.intake import falco_proto as pb
from bridge.intake.grpc import GrpcIntake, GrpcTls, alert_from_response
from bridge.model import Alert


class FakeFalco:
    """One global queue; each request read from a `sub` stream releases at most one alert."""

    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()
        self.requests = 0
        self.subscribers = 0
        self.end_after_each = False  # end the stream cleanly after each alert, as a stopping Falco does

    def sub(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        self.subscribers += 1
        for _ in request_iterator:
            self.requests += 1
            try:
                yield self.queue.get_nowait()
            except queue.Empty:
                continue
            if self.end_after_each:
                return

    def get(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        while True:
            try:
                yield self.queue.get_nowait()
            except queue.Empty:
                return

    def version(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.VersionResponse(version="0.43.1", major=0, minor=43, patch=1, engine_version="0.50.0")


def serve_falco(server: grpc.Server, falco: FakeFalco) -> None:
    server.add_generic_rpc_handlers((pb.outputs_handler(falco.sub, falco.get), pb.version_handler(falco.version)))


class Server:
    def __init__(self, address: str) -> None:
        self.address = address
        self.falco = FakeFalco()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        serve_falco(self.server, self.falco)
        self.server.add_insecure_port(address)
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=0).wait(5)


def response(i: int, **over: Any) -> Any:
    r = pb.OutputsResponse(
        priority=pb.Priority.Value("CRITICAL"),
        source_deprecated=pb.Source.Value("PLUGIN"),
        rule="Delete Bucket Encryption",
        output=f"17:24:16.000000000: Critical A encryption configuration was deleted (n={i})",
        output_fields={"ct.region": "us-east-1", "s3.bucket": "jd-1603127991", "n": str(i)},
        hostname="h",
        tags=["aws", "cloud"],
        source="aws_cloudtrail",
    )
    r.time.seconds = 1603128256
    r.time.nanos = 5
    for k, v in over.items():
        setattr(r, k, v)
    return r


class Sink:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.cv = threading.Condition()

    def __call__(self, alert: Alert) -> None:
        with self.cv:
            self.alerts.append(alert)
            self.cv.notify_all()

    def wait_for(self, n: int, timeout: float = 10) -> list[Alert]:
        with self.cv:
            assert self.cv.wait_for(lambda: len(self.alerts) >= n, timeout), f"{len(self.alerts)} of {n} alerts"
            return list(self.alerts)


@pytest.fixture
def target(tmp_path: Path) -> str:
    return f"unix://{tmp_path}/falco.sock"


@pytest.fixture
def server(target: str) -> Iterator[Server]:
    s = Server(target)
    yield s
    s.stop()


@pytest.fixture
def client(target: str) -> Iterator[tuple[GrpcIntake, Sink]]:
    sink = Sink()
    intake = GrpcIntake(target, sink, poll_interval=0.05)
    yield intake, sink
    intake.stop()


def test_every_alert_arrives_mapped(server: Server, client: tuple[GrpcIntake, Sink]) -> None:
    intake, sink = client
    for i in range(50):
        server.falco.queue.put(response(i))
    intake.start()
    alerts = sink.wait_for(50)
    assert [a.output_fields["n"] for a in alerts] == [str(i) for i in range(50)]
    a = alerts[0]
    assert a.time == "2020-10-19T17:24:16.000000005Z"
    assert a.priority == "Critical"
    assert a.rule == "Delete Bucket Encryption"
    assert a.source == "aws_cloudtrail"
    assert a.hostname == "h"
    assert a.tags == ("aws", "cloud")
    assert a.output_fields == {"ct.region": "us-east-1", "s3.bucket": "jd-1603127991", "n": "0"}
    assert a.output.endswith("(n=0)")
    assert a.extra == {"intake": "grpc"}
    assert intake.received == 50


def test_subscription_keeps_pulling_for_later_alerts(server: Server, client: tuple[GrpcIntake, Sink]) -> None:
    intake, sink = client
    intake.start()
    time.sleep(0.3)
    assert server.falco.requests >= 2  # empty requests keep flowing while nothing is queued
    server.falco.queue.put(response(1))
    sink.wait_for(1)
    time.sleep(0.3)
    server.falco.queue.put(response(2))
    assert sink.wait_for(2)[1].output_fields["n"] == "2"


def test_json_output_is_parsed(server: Server, client: tuple[GrpcIntake, Sink]) -> None:
    intake, sink = client
    falco_json = {
        "hostname": "h2", "output": "17:24:16.000000000: Warning Key scheduled for deletion",
        "output_fields": {"ct.region": "us-east-1", "evt.time": 1603128256000000000},
        "priority": "Warning", "rule": "KMS Key Scheduled For Deletion", "source": "aws_cloudtrail",
        "tags": ["aws", "kms"], "time": "2020-10-19T17:24:16.000000000Z", "message": "Key scheduled for deletion",
    }
    server.falco.queue.put(response(0, output=json.dumps(falco_json), priority=pb.Priority.Value("WARNING"),
                                    rule="KMS Key Scheduled For Deletion"))
    intake.start()
    (a,) = sink.wait_for(1)
    assert a.output == falco_json["output"]
    assert a.output_fields == falco_json["output_fields"]  # real types from the JSON, evt.time included
    assert a.priority == "Warning" and a.rule == "KMS Key Scheduled For Deletion"
    assert a.hostname == "h2" and a.tags == ("aws", "kms")
    assert a.extra == {"message": "Key scheduled for deletion", "intake": "grpc"}


def test_source_falls_back_to_the_deprecated_enum() -> None:
    a = alert_from_response(response(0, source="", source_deprecated=pb.Source.Value("K8S_AUDIT")))
    assert a.source == "k8s_audit"
    a = alert_from_response(response(0, priority=pb.Priority.Value("INFO")))
    assert a.priority == "Informational"
    a = alert_from_response(response(0, output="{not json at all"))
    assert a.output == "{not json at all" and a.rule == "Delete Bucket Encryption"


def test_client_started_before_falco_and_reconnects_after_restart(target: str,
                                                                 client: tuple[GrpcIntake, Sink]) -> None:
    intake, sink = client
    intake.start()  # nobody listening yet: it must keep retrying
    time.sleep(0.5)
    first = Server(target)
    try:
        first.falco.queue.put(response(1))
        sink.wait_for(1)
    finally:
        first.stop()
    time.sleep(0.3)
    second = Server(target)
    try:
        second.falco.queue.put(response(2))
        second.falco.queue.put(response(3))
        alerts = sink.wait_for(3)
    finally:
        second.stop()
    assert [a.output_fields["n"] for a in alerts] == ["1", "2", "3"]
    assert intake.connects >= 2


def test_version(server: Server, client: tuple[GrpcIntake, Sink]) -> None:
    intake, _ = client
    assert intake.version() == "0.43.1"


def test_version_without_falco(target: str) -> None:
    with pytest.raises(FalcoNotFound, match="falco.sock"):
        GrpcIntake(target, lambda a: None).version(timeout=1)


def test_drain_waits_for_quiet(server: Server, client: tuple[GrpcIntake, Sink]) -> None:
    intake, sink = client
    intake.start()

    def feed() -> None:
        for i in range(5):
            server.falco.queue.put(response(i))
            time.sleep(0.1)

    t = threading.Thread(target=feed)
    t.start()
    started = time.monotonic()
    intake.drain(0.4)
    took = time.monotonic() - started
    t.join()
    assert len(sink.alerts) == 5
    assert took >= 0.4 + 0.4  # the last alert came at about 0.4 s, then 0.4 s of quiet


def test_a_failing_handler_does_not_end_the_subscription(server: Server, target: str) -> None:
    got: list[Alert] = []

    def flaky(alert: Alert) -> None:
        got.append(alert)
        if len(got) <= 2:
            raise RuntimeError("boom")

    intake = GrpcIntake(target, flaky, poll_interval=0.05)
    for i in range(4):
        server.falco.queue.put(response(i))
    intake.start()
    try:
        deadline = time.monotonic() + 10
        while len(got) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        intake.stop()
    assert len(got) == 4 and (intake.failed, intake.received) == (2, 4)  # every failing call counted


def test_stop_is_prompt(server: Server, client: tuple[GrpcIntake, Sink]) -> None:
    intake, _ = client
    intake.start()
    time.sleep(0.2)
    started = time.monotonic()
    intake.stop()
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GrpcIntake("", lambda a: None), "empty target"),
        (lambda: GrpcIntake("unix:///x.sock", lambda a: None, poll_interval=0), "poll_interval"),
    ],
)
def test_bad_config(make: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is not installed; it makes the test certificates")
    d = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test-ca")
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who in ("server", "client"):
        openssl("req", *ec, "-keyout", f"{who}.key", "-out", f"{who}.csr", "-subj", f"/CN={who}")
        openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{who}.pem", "-days", "2", "-extfile", f"{who}.ext")
    return d


def test_tcp_with_mtls(pki: Path) -> None:
    # Falco's gRPC over TCP always requires mutual TLS; this server does too.
    falco = FakeFalco()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    serve_falco(server, falco)
    creds = grpc.ssl_server_credentials(
        [((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())],
        root_certificates=(pki / "ca.pem").read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    sink = Sink()
    tls = GrpcTls(ca=str(pki / "ca.pem"), cert=str(pki / "client.pem"), key=str(pki / "client.key"))
    intake = GrpcIntake(f"127.0.0.1:{port}", sink, tls=tls, poll_interval=0.05)
    try:
        assert intake.version() == "0.43.1"
        falco.queue.put(response(1))
        intake.start()
        assert sink.wait_for(1)[0].output_fields["n"] == "1"
        # Without TLS the same server refuses us.
        with pytest.raises(FalcoNotFound):
            GrpcIntake(f"127.0.0.1:{port}", sink).version(timeout=1)
    finally:
        intake.stop()
        server.stop(grace=0).wait(5)


def test_tls_on_a_unix_socket_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    tls = GrpcTls(ca=str(tmp_path / "ca.pem"), cert=str(tmp_path / "c.pem"), key=str(tmp_path / "k.pem"))
    with pytest.raises(ConfigError, match="TCP"):
        GrpcIntake("unix:///run/falco/falco.sock", lambda a: None, tls=tls)
    with pytest.raises(ConfigError, match="ca.pem"):
        GrpcIntake("127.0.0.1:5060", lambda a: None, tls=tls)
