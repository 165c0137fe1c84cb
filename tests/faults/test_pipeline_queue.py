"""Fault matrix row: disk full under `ctbridge forward`'s queue database. Falco posts alerts while
the destination is down and the queue cannot grow any more. Every alert answered 200 must be
stored and, once there is room and the destination is back, delivered exactly once; an alert the
queue could not store must never be answered 200 (Falco would consider it delivered)."""

from __future__ import annotations

import http.client
import json
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sinks.recorder import Recorder

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(180)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _full_disk_at(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


class _Forward:
    def __init__(self, tmp: Path, url: str) -> None:
        self.port = _port()
        self.tmp = tmp
        self.config = tmp / "forward.yaml"
        self.config.write_text(json.dumps({
            "intake": {"listen": f"127.0.0.1:{self.port}"}, "queue": {"dir": str(tmp / "q")},
            "destinations": [{"name": "hook", "type": "webhook", "url": url, "timeout": 1.0,
                              "backoff_base": 0.05, "backoff_max": 0.2, "allow_plain_http": True}]}))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, limit: int | None = None) -> None:
        with open(self.tmp / "forward.log", "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "bridge", "forward", "--config", str(self.config)],
                                         cwd=REPO, stdout=subprocess.DEVNULL, stderr=log,
                                         preexec_fn=(lambda: _full_disk_at(limit)) if limit else None)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError((self.tmp / "forward.log").read_text()[-2000:])

    def post(self, i: int) -> tuple[int, str]:
        alert = {"output": f"alert {i} " + "x" * 500, "priority": "Critical", "rule": "r",
                 "time": f"2024-01-01T00:00:00.{i:09d}Z", "output_fields": {"ct.id": str(i)},
                 "source": "aws_cloudtrail", "tags": [], "hostname": "h"}
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("POST", "/", json.dumps(alert), {"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, r.read().decode(errors="replace")
        finally:
            c.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)


def _fill(tmp: Path) -> tuple[_Forward, Recorder, list[int], list[tuple[int, str]]]:
    hook = Recorder(lambda r: (503, {}, b"down"))
    fwd = _Forward(tmp, hook.url + "/")
    fwd.start(limit=300_000)  # room for the database and a few dozen alerts
    accepted: list[int] = []
    refused: list[tuple[int, str]] = []
    try:
        for i in range(300):
            status, body = fwd.post(i)
            if status == 200:
                accepted.append(i)
            else:
                refused.append((status, body))
    finally:
        fwd.stop()
    return fwd, hook, accepted, refused


def test_queue_disk_full_never_acknowledges_what_it_could_not_store(
        tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    fwd, hook, accepted, refused = _fill(tmp_path)
    assert accepted and refused, (len(accepted), len(refused))
    assert all(status >= 500 for status, _ in refused)
    # Room again, destination back: exactly the acknowledged alerts arrive, once each.
    hook.answer = lambda r: (200, {}, b"{}")
    fwd.start()
    try:
        deadline = time.monotonic() + 60
        while len(hook.accepted) < len(accepted) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        fwd.stop()
    got = [int(r.json()["output_fields"]["ct.id"]) for r in hook.accepted]
    assert sorted(got) == accepted
    record_property("posted", 300)
    record_property("accepted_200", len(accepted))
    record_property("refused_5xx", len(refused))
    record_property("delivered_after_restart", len(got))


def test_queue_disk_full_is_a_clear_503(tmp_path: Path) -> None:
    _, _, _, refused = _fill(tmp_path)
    assert refused and all(status == 503 for status, _ in refused), refused[:3]
    log = (tmp_path / "forward.log").read_text()
    assert "cannot rollback" not in log
