"""HTTP intake in front of the forwarder: ack after durable enqueue, 503 when full, shared secret,
falcosidekick's POST body, bad input rejected and counted; and `ctbridge forward` as a process."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from sinks.alerts import cloud, host
from sinks.recorder import Recorder

from bridge.intake.http import HttpIntake
from bridge.route.forwarder import build_forwarder
from bridge.route.ident import alert_id


def post(port: int, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("POST", "/", body, {"Content-Type": "application/json", **(headers or {})})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def falco_json(alert_dict: dict[str, object]) -> bytes:
    return orjson.dumps(alert_dict)


# falcosidekick's FalcoPayload as its webhook output posts it (docs: outputs/webhook; types.FalcoPayload).
SIDEKICK = {
    "uuid": "3ec4a3d6-6e0a-4c36-9e5e-6f4e5cd4b1a2",
    "output": "16:31:56.746609046: Error File below a known binary directory opened for writing (user=root)",
    "priority": "Error", "rule": "Write below binary dir", "time": "2019-05-17T15:31:56.746609046Z",
    "source": "syscall", "hostname": "falco-xyz", "tags": ["filesystem", "mitre_persistence"],
    "output_fields": {"evt.time": 1558107116746609046, "fd.name": "/bin/hack", "user.name": "root"},
}


def test_ack_only_after_enqueue_then_503_when_full(tmp_path: Path) -> None:
    fwd = build_forwarder({"destinations": [{"name": "f", "type": "file", "path": str(tmp_path / "out"),
                                             "queue": {"max_depth": 2}}],
                           "queue": {"dir": str(tmp_path / "q")}})  # not started: nothing drains
    intake = HttpIntake(fwd.handle)
    intake.start()
    try:
        assert post(intake.port, falco_json(cloud(1).to_dict()))[0] == 200
        assert fwd.stores["f"].depth() == 1  # durable before the 200 came back
        assert post(intake.port, orjson.dumps(SIDEKICK))[0] == 200
        status, headers, body = post(intake.port, falco_json(cloud(3).to_dict()))
        assert status == 503 and headers.get("Retry-After") == "1" and b"full" in body
        assert intake.refused == 1 and fwd.stores["f"].depth() == 2
        fwd.start()  # draining makes room again
        deadline = time.monotonic() + 10
        while fwd.stores["f"].depth() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert post(intake.port, falco_json(cloud(3).to_dict()))[0] == 200
        while fwd.stores["f"].depth() and time.monotonic() < deadline + 10:
            time.sleep(0.02)
    finally:
        intake.stop()
        fwd.close()
    lines = [orjson.loads(x) for x in (tmp_path / "out").read_bytes().splitlines()]
    assert [x["rule"] for x in lines] == ["Delete Bucket Encryption", "Write below binary dir",
                                          "Delete Bucket Encryption"]
    assert lines[1]["uuid"] == SIDEKICK["uuid"] and lines[1]["output_fields"]["fd.name"] == "/bin/hack"


def test_shared_secret_and_bad_input(tmp_path: Path) -> None:
    got: list[object] = []
    intake = HttpIntake(got.append, secret="s3cr3t", secret_header="X-Falco-Token", max_body=1024 * 1024)
    intake.start()
    try:
        good = falco_json(host().to_dict())
        assert post(intake.port, good)[0] == 401
        assert post(intake.port, good, {"X-Falco-Token": "wrong"})[0] == 401
        assert post(intake.port, good, {"X-Falco-Token": "s3cr3t"})[0] == 200
        ok = {"X-Falco-Token": "s3cr3t"}
        assert post(intake.port, b'{"rule": "x", ', ok)[0] == 400  # malformed JSON
        assert post(intake.port, b'{"rule": "x"}', ok)[0] == 400  # missing priority and time
        assert post(intake.port, b'{"rule":"r","priority":"Error","time":"t","output":"\xff\xfe"}', ok)[0] == 400
        big = orjson.dumps({**host().to_dict(), "output": "A" * (10 * 1024 * 1024)})
        with socket.create_connection(("127.0.0.1", intake.port), timeout=10) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Falco-Token: s3cr3t\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(big) + big[:65536])
            answer = s.recv(4096)
            assert answer.startswith(b"HTTP/1.1 400")  # a 10 MB output: refused unread, naming the limit
            assert b"over the 1048576 byte limit" in answer
        assert intake.unauthorized == 2 and intake.rejected == 4 and intake.received == 1 and len(got) == 1
    finally:
        intake.stop()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_forward_command_end_to_end(tmp_path: Path) -> None:
    rec = Recorder()
    port, ops = _port(), _port()
    cfg = tmp_path / "forward.yaml"
    cfg.write_text(f"""
sources: [{{type: local, path: /nowhere}}]   # another command's section: ignored here
falco: {{socket: /run/x.sock}}
intake: {{listen: "127.0.0.1:{port}", secret: env:FWD_SECRET}}
ops: {{listen: "127.0.0.1:{ops}"}}
queue: {{dir: {tmp_path / 'q'}}}
destinations:
  - {{name: hook, type: webhook, url: "{rec.url}/alerts"}}
  - {{name: archive, type: file, path: {tmp_path / 'alerts.jsonl'}}}
routes:
  - {{sources: [aws_cloudtrail], to: [hook]}}
  - {{default: true, to: [archive]}}
""")
    env = {**os.environ, "FWD_SECRET": "k"}
    log = tmp_path / "forward.log"
    with open(log, "wb") as err:
        p = subprocess.Popen([sys.executable, "-m", "bridge", "forward", "--config", str(cfg)], env=env,
                             stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status = post(port, falco_json(cloud(1).to_dict()), {"X-Ctbridge-Secret": "k"})[0]
                break
            except OSError:
                assert time.monotonic() < deadline and p.poll() is None, log.read_text()
                time.sleep(0.1)
        assert status == 200
        assert post(port, falco_json(host(1).to_dict()), {"X-Ctbridge-Secret": "k"})[0] == 200
        while (len(rec.accepted) < 1 or not (tmp_path / "alerts.jsonl").exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        c = http.client.HTTPConnection("127.0.0.1", ops, timeout=5)
        c.request("GET", "/metrics")
        metrics = c.getresponse().read().decode()
        c.request("GET", "/readyz")
        r = c.getresponse()
        ready = (r.status, r.read().decode())
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(20)
        rec.close()
    assert p.returncode == 0, log.read_text()
    assert [r.json()["id"] for r in rec.accepted] == [alert_id(cloud(1))] and rec.accepted[0].path == "/alerts"
    assert orjson.loads((tmp_path / "alerts.jsonl").read_bytes())["rule"] == "Terminal shell in container"
    assert 'ctbridge_forward_sent_total{destination="hook"} 1.0' in metrics
    assert 'ctbridge_forward_intake_total{result="received"} 2.0' in metrics
    assert ready[0] == 200 and "ok destination hook" in ready[1]


def test_unknown_destination_in_a_route_is_a_config_error(tmp_path: Path) -> None:
    from bridge.errors import ConfigError

    with pytest.raises(ConfigError, match="no destination named 'nope'"):
        build_forwarder({"destinations": [{"name": "a", "type": "stdout"}], "routes": [{"to": ["nope"]}],
                         "queue": {"dir": str(tmp_path)}})
    with pytest.raises(ConfigError, match="unknown destination type 'carrier-pigeon'"):
        build_forwarder({"destinations": [{"name": "a", "type": "carrier-pigeon"}], "queue": {"dir": str(tmp_path)}})
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        build_forwarder({"destinations": [{"name": "a", "type": "stdout", "colour": 1}],
                         "queue": {"dir": str(tmp_path)}})


def test_forward_subscribes_to_falco_grpc_output(tmp_path: Path) -> None:
    pytest.importorskip("grpc")
    import tempfile

    from intake.test_grpc import Server, response  # the Falco 0.43 gRPC stand-in of tests/intake

    with tempfile.TemporaryDirectory(prefix="ctb-") as short:  # a unix socket path must stay short
        target = f"unix://{short}/falco.sock"
        server = Server(target)
        for i in range(3):
            server.falco.queue.put(response(i))
        out = tmp_path / "alerts.jsonl"
        cfg = tmp_path / "forward.yaml"
        cfg.write_text(orjson.dumps({
            "intake": {"listen": f"127.0.0.1:{_port()}", "grpc_target": target},
            "queue": {"dir": str(tmp_path / "q")},
            "destinations": [{"name": "f", "type": "file", "path": str(out)}]}).decode())
        with open(tmp_path / "log", "wb") as err:
            p = subprocess.Popen([sys.executable, "-m", "bridge", "forward", "--config", str(cfg)],
                                 stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 20
            while (not out.exists() or len(out.read_bytes().splitlines()) < 3) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(20)
            server.stop()
        lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
        assert [x["output_fields"]["n"] for x in lines] == ["0", "1", "2"], (tmp_path / "log").read_text()
        assert all(x["intake"] == "grpc" for x in lines)


def test_check_validates_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from bridge.cli import main

    saved = logging.root.handlers[:], logging.root.level  # main() re-points logging at captured stderr

    cfg = tmp_path / "f.yaml"
    cfg.write_text(f"queue: {{dir: {tmp_path / 'q'}}}\ndestinations: [{{name: out, type: stdout}}]\n")
    assert main(["forward", "--config", str(cfg), "--check"]) == 0
    assert "ok (1 destinations)" in capsys.readouterr().out
    cfg.write_text("destinations: [{name: out, type: slack}]\n")  # webhook_url missing
    assert main(["forward", "--config", str(cfg), "--check"]) == 2
    assert "webhook_url" in capsys.readouterr().err
    logging.root.handlers[:] = saved[0]
    logging.root.setLevel(saved[1])


def test_block_wait_holds_the_request_until_there_is_room(tmp_path: Path) -> None:
    import threading

    fwd = build_forwarder({"destinations": [{"name": "f", "type": "file", "path": str(tmp_path / "out"),
                                             "queue": {"max_depth": 1}}],
                           "queue": {"dir": str(tmp_path / "q"), "block_wait": 10}})
    fwd.handle(cloud(1))
    threading.Timer(0.3, fwd.start).start()  # the worker drains the queue a little later
    t0 = time.monotonic()
    try:
        fwd.handle(cloud(2))  # waits instead of raising QueueFull
        assert time.monotonic() - t0 >= 0.25
        assert fwd.stores["f"].depth() <= 1
    finally:
        time.sleep(0.1)
        fwd.close()


def test_forward_intake_over_mtls(tmp_path: Path) -> None:
    import ssl

    from pki import make_pki

    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki")
    port = _port()
    out = tmp_path / "alerts.jsonl"
    cfg = tmp_path / "forward.yaml"
    cfg.write_text(orjson.dumps({
        "intake": {"listen": f"127.0.0.1:{port}", "tls": {"cert": str(pki / "server.pem"), "key": str(pki / "server.key"),
                                                          "client_ca": str(pki / "ca.pem")}},
        "queue": {"dir": str(tmp_path / "q")},
        "destinations": [{"name": "f", "type": "file", "path": str(out)}]}).decode())
    with open(tmp_path / "log", "wb") as err:
        p = subprocess.Popen([sys.executable, "-m", "bridge", "forward", "--config", str(cfg)],
                             stdout=subprocess.DEVNULL, stderr=err)

    def https_post(with_cert: bool) -> int:
        ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        if with_cert:
            ctx.load_cert_chain(pki / "client.pem", pki / "client.key")
        c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        try:
            c.request("POST", "/", falco_json(cloud(1).to_dict()), {"Content-Type": "application/json"})
            return c.getresponse().status
        finally:
            c.close()

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status = https_post(True)
                break
            except (OSError, ssl.SSLError):
                assert time.monotonic() < deadline and p.poll() is None, (tmp_path / "log").read_text()
                time.sleep(0.1)
        assert status == 200
        with pytest.raises((ssl.SSLError, OSError)):
            https_post(False)  # no client certificate: the handshake is refused
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(20)
    assert orjson.loads(out.read_bytes())["id"] == alert_id(cloud(1))


def test_unusable_queue_dir_is_a_config_error(tmp_path: Path) -> None:
    from bridge.errors import ConfigError

    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ConfigError, match="queue.dir"):
        build_forwarder({"destinations": [{"name": "a", "type": "stdout"}], "queue": {"dir": str(tmp_path / "file")}})


def test_batch_size_over_what_the_destination_takes_is_a_config_error(tmp_path: Path) -> None:
    from bridge.errors import ConfigError

    with pytest.raises(ConfigError, match="over the 1 a slack request can carry"):
        build_forwarder({"destinations": [{"name": "s", "type": "slack", "webhook_url": "https://h.example/x",
                                           "batch": {"max_events": 10}}], "queue": {"dir": str(tmp_path)}})


def test_handle_blocking_waits_out_a_full_queue(tmp_path: Path) -> None:
    import threading

    fwd = build_forwarder({"destinations": [{"name": "f", "type": "file", "path": str(tmp_path / "out"),
                                             "queue": {"max_depth": 1}}], "queue": {"dir": str(tmp_path / "q")}})
    stop = threading.Event()
    fwd.handle(cloud(1))
    threading.Timer(0.3, fwd.start).start()
    try:
        fwd.handle_blocking(cloud(2), stop)  # no QueueFull: returns once there was room
        deadline = time.monotonic() + 10
        while fwd.stores["f"].depth() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        fwd.close()
    assert len((tmp_path / "out").read_bytes().splitlines()) == 2
