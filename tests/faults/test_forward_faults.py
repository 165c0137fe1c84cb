"""Faults around `ctbridge forward`: a SIGKILL with alerts queued, a destination down and back,
429 with Retry-After, 500s and timeouts. Every alert must arrive exactly once after dedup by id,
in order per destination, and nothing retryable may end in the dead-letter store.

The receiving end is a real HTTP server on 127.0.0.1 standing in for a webhook consumer that
de-duplicates on the X-Ctbridge-Alert-Id header (the idempotency key the bridge sends)."""

from __future__ import annotations

import http.client

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
from ct import wait_for
from sinks.alerts import cloud
from sinks.recorder import Answer, Recorder, Request

from bridge.queue.store import Store
from bridge.route.ident import alert_id

def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_in_order(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))

class Forward:
    """`ctbridge forward` in its own process, as a sidecar would run it."""

    def __init__(self, tmp: Path, hook_url: str, **dest: object) -> None:
        self.port = _port()
        self.ops = _port()
        self.tmp = tmp
        d = {"name": "hook", "type": "webhook", "url": hook_url, "timeout": 1.0, "backoff_base": 0.05,
             "backoff_max": 0.5, **dest}
        self.config = tmp / "forward.yaml"
        self.config.write_text(orjson.dumps({
            "intake": {"listen": f"127.0.0.1:{self.port}"}, "queue": {"dir": str(tmp / "q")},
            "ops": {"listen": f"127.0.0.1:{self.ops}"},
            "destinations": [d]}).decode())
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.tmp / "forward.log", "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "bridge", "forward", "--config", str(self.config)],
                                         stdout=subprocess.DEVNULL, stderr=log)
        assert wait_for(self._listening, 20), (self.tmp / "forward.log").read_text()

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def post(self, body: bytes) -> int:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("POST", "/", body, {"Content-Type": "application/json"})
            return c.getresponse().status
        finally:
            c.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)

    def dead(self) -> int:
        s = Store(self.tmp / "q" / "hook" / "queue.db")
        try:
            return s.dead_count()
        finally:
            s.close()

def test_sigkill_with_alerts_queued_then_restart(tmp_path: Path) -> None:
    slow = threading.Event()

    def answer(r: Request) -> Answer:
        if slow.is_set():
            time.sleep(0.02)  # a slow consumer: the kill lands while alerts are still queued
        return 200, {}, b""

    rec = Recorder(answer)
    slow.set()
    fwd = Forward(tmp_path, rec.url)
    fwd.start()
    try:
        alerts = [cloud(i) for i in range(300)]
        for a in alerts:
            assert fwd.post(orjson.dumps(a.to_dict())) == 200  # acked = durably queued
        fwd.kill()
        delivered_before = len(unique_in_order(rec.ids()))
        assert delivered_before < len(alerts), "the kill should have left alerts queued"
        slow.clear()
        fwd.start()
        want = [alert_id(a) for a in alerts]
        assert wait_for(lambda: len(unique_in_order(rec.ids())) == len(want))
        assert unique_in_order(rec.ids()) == want  # each exactly once after dedup, in order
        assert len(rec.ids()) - len(want) <= 1  # at most the one in flight at the kill is repeated
    finally:
        fwd.stop()
        rec.close()
    assert fwd.dead() == 0

def test_destination_down_then_back(tmp_path: Path) -> None:
    port = _port()
    fwd = Forward(tmp_path, f"http://127.0.0.1:{port}/")  # nothing listens yet: connection refused
    fwd.start()
    rec: Recorder | None = None
    try:
        for i in range(50):
            assert fwd.post(orjson.dumps(cloud(i).to_dict())) == 200
        time.sleep(3)  # down for a while (backoff_max 0.5 s compresses minutes of retries into seconds)
        rec = Recorder(port=port)
        want = [alert_id(cloud(i)) for i in range(50)]
        assert wait_for(lambda: unique_in_order(rec.ids()) == want)  # type: ignore[union-attr]
        assert rec.ids() == want
    finally:
        fwd.stop()
        if rec is not None:
            rec.close()
    assert fwd.dead() == 0

def test_429_with_retry_after_500s_and_timeouts(tmp_path: Path) -> None:
    calls = {"n": 0}
    first_429: list[float] = []
    after_429: list[float] = []

    def answer(r: Request) -> Answer:
        calls["n"] += 1
        n = calls["n"]
        if n == 3:
            first_429.append(time.monotonic())
            return 429, {"Retry-After": "2"}, b"slow down"
        if n == 4:
            after_429.append(time.monotonic())
        if n in (5, 6, 9):
            return 500, {}, b"oops"
        if n in (11, 12):
            time.sleep(1.5)  # past the 1 s client timeout; the request was still received
            return 200, {}, b""
        return 200, {}, b""

    rec = Recorder(answer)
    fwd = Forward(tmp_path, rec.url)
    fwd.start()
    try:
        want = [alert_id(cloud(i)) for i in range(20)]
        for i in range(20):
            assert fwd.post(orjson.dumps(cloud(i).to_dict())) == 200
        assert wait_for(lambda: unique_in_order(rec.ids()) == want, 60)
        assert after_429[0] - first_429[0] >= 1.9
    finally:
        fwd.stop()
        rec.close()
    assert fwd.dead() == 0


def test_bad_input_gets_400_and_is_counted_and_the_forwarder_goes_on(tmp_path: Path) -> None:
    rec = Recorder()
    fwd = Forward(tmp_path, rec.url)
    fwd.start()
    try:
        # A 10 MB output string: refused unread with 400 naming the limit (Falco's http_output
        # would drop it either way; a sender that reads answers learns why).
        big = orjson.dumps({**cloud(1).to_dict(), "output": "A" * (10 * 1024 * 1024)})
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=10) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(big) + big[:65536])
            answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400") and b"over the 8388608 byte limit" in answer
        assert fwd.post(b'{"rule": "x", "priority": ') == 400  # malformed JSON
        assert fwd.post(b'{"rule":"r","priority":"Error","time":"t","output":"\xff\xfe"}') == 400  # not UTF-8
        assert fwd.post(orjson.dumps(cloud(0).to_dict())) == 200
        assert wait_for(lambda: rec.ids() == [alert_id(cloud(0))])
        c = http.client.HTTPConnection("127.0.0.1", fwd.ops, timeout=5)
        c.request("GET", "/metrics")
        metrics = c.getresponse().read().decode()
        c.close()
    finally:
        fwd.stop()
        rec.close()
    assert 'ctbridge_forward_intake_total{result="rejected"} 3.0' in metrics
    assert 'ctbridge_forward_intake_total{result="received"} 1.0' in metrics
    assert fwd.proc is not None and fwd.proc.returncode == 0
    assert fwd.dead() == 0
