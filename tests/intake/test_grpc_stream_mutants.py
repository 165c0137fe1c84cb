"""GrpcIntake's subscription loop (bridge/intake/grpc.py `_run`): what make mutation left
unchecked there (docs/reliability.md, Mutation testing). The stand-in server of
tests/intake/test_grpc.py plays Falco's gRPC server; tests/integration covers a real Falco 0.43.1.
Checked through the loop's own log records and counters, not through timing."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest

from bridge.intake.grpc import GrpcIntake
from tests.intake.test_grpc import Server, Sink, response

LOGGER = "ctbridge.intake.grpc"


def _wait(cond: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _retries(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and "retrying" in r.getMessage()]


def test_retries_back_off_doubling_warn_once_and_count_every_stream(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    target = f"unix://{tmp_path}/falco.sock"
    sink = Sink()
    intake = GrpcIntake(target, sink, poll_interval=0.05)
    intake.start()  # no Falco yet: every attempt fails
    server = None
    try:
        _wait(lambda: len(_retries(caplog)) >= 4)
        server = Server(target)
        server.falco.queue.put(response(1))
        sink.wait_for(1)
        retries = _retries(caplog)
        found = [re.search(r"backoff ([0-9.]+)s", r.getMessage()) for r in retries]
        backoffs = [float(m.group(1)) for m in found if m]
        assert backoffs[:4] == [0.1, 0.2, 0.4, 0.8]
        # The first failure of an outage is a warning; the rest are debug, then one info on recovery.
        assert [r.levelno for r in retries[:4]] == [logging.WARNING] + [logging.DEBUG] * 3
        again = [r for r in caplog.records if r.name == LOGGER and "receiving alerts from" in r.getMessage()]
        assert again and again[0].levelno == logging.INFO and again[0].getMessage().endswith("again")
        # Each attempt opened a stream: the failed ones and the one that works.
        assert intake.connects == len(_retries(caplog)) + 1
    finally:
        intake.stop()
        if server is not None:
            server.stop()


def test_a_stream_the_server_ends_is_reopened_after_a_pause(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    target = f"unix://{tmp_path}/falco.sock"
    server = Server(target)
    server.falco.end_after_each = True
    for i in range(2):
        server.falco.queue.put(response(i))
    sink = Sink()
    intake = GrpcIntake(target, sink, poll_interval=0.05)
    intake.start()
    try:
        got = sink.wait_for(2, timeout=20)
        assert [a.output_fields["n"] for a in got] == ["0", "1"]
        assert intake.connects == 2 and not _retries(caplog)
        ended = [r.getMessage() for r in caplog.records if "ended the stream" in r.getMessage()]
        assert ended and ended[0].endswith("reconnecting in 2s")
    finally:
        intake.stop()
        server.stop()

