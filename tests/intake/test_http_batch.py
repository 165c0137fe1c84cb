"""Requests that arrive together reach the forwarder together (Forwarder.handle_many), each still
answered for itself; and in pool mode a handler held on one request does not hold the others."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import pytest
from sinks.alerts import cloud
from test_http_limits import Conn, read_answer, request

from bridge.intake.http import HttpIntake
from bridge.model import Alert
from bridge.route.forwarder import build_forwarder


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "pool"])
def test_concurrent_posts_each_get_their_own_answer(tmp_path: Path, inline: bool) -> None:
    fwd = build_forwarder({"destinations": [{"name": "f", "type": "file", "path": str(tmp_path / "out"),
                                             "queue": {"max_depth": 5}}],
                           "queue": {"dir": str(tmp_path / "q")}})  # not started: nothing drains
    intake = HttpIntake(fwd.handle, on_alerts=fwd.handle_many, inline=inline)
    intake.start()
    conns = [Conn(intake.port) for _ in range(8)]
    try:
        for i, s in enumerate(conns):  # all sent before any answer is read
            s.sendall(request(orjson.dumps(cloud(i).to_dict())))
        answers = [read_answer(s) for s in conns]
    finally:
        for s in conns:
            s.close()
        intake.stop()
    statuses = sorted(a[0] for a in answers)
    assert statuses == [200] * 5 + [503] * 3
    assert all(b"Retry-After: 1" in head for status, head, _ in answers if status == 503)
    assert fwd.stores["f"].depth() == 5 and intake.received == 5 and intake.refused == 3
    fwd.close()


def test_pool_mode_a_held_request_does_not_hold_the_others() -> None:
    release = threading.Event()
    got: list[str] = []

    def on_alert(alert: Alert) -> None:
        if alert.rule == "hold":
            release.wait(10)  # like Forwarder.handle waiting out queue.block_wait
        got.append(alert.rule)

    intake = HttpIntake(on_alert)
    intake.start()
    held = Conn(intake.port)
    other = Conn(intake.port)
    try:
        body = orjson.loads(request().split(b"\r\n\r\n", 1)[1])
        held.sendall(request(orjson.dumps(body | {"rule": "hold"})))
        time.sleep(0.1)
        t0 = time.monotonic()
        other.sendall(request())
        assert read_answer(other)[0] == 200
        assert time.monotonic() - t0 < 2 and got == ["Delete Bucket Encryption"]
        release.set()
        assert read_answer(held)[0] == 200
    finally:
        release.set()
        held.close()
        other.close()
        intake.stop()
    assert got == ["Delete Bucket Encryption", "hold"]
