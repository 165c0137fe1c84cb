"""GrpcIntake's subscription loop (bridge/intake/grpc.py `_run`): what make mutation left
unchecked there (docs/reliability.md, Mutation testing). The stand-in server of
tests/intake/test_grpc.py plays Falco's gRPC server; tests/integration covers a real Falco 0.43.1.
Checked through the loop's own log records and counters, not through timing."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from bridge.errors import FalcoNotFound
from bridge.intake import falco_proto as pb
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



class _HoldingFalco:
    """A sub stream that stays open after our requests end, until released: whether a Falco ends
    its side on our half-close is not ours to rely on, so stop() must cancel the call itself."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.release = threading.Event()

    def sub(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        self.opened.set()
        for _ in request_iterator:
            pass
        self.release.wait(30)
        return
        yield  # a generator: the stream's responses (none)

    def get(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        return iter(())

    def version(self, request: Any, context: grpc.ServicerContext) -> Any:
        return pb.VersionResponse(version="0.43.1")


def test_stop_cancels_a_stream_the_server_holds_open(tmp_path: Path) -> None:
    target = f"unix://{tmp_path}/falco.sock"
    falco = _HoldingFalco()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((pb.outputs_handler(falco.sub, falco.get), pb.version_handler(falco.version)))
    server.add_insecure_port(target)
    server.start()
    intake = GrpcIntake(target, Sink(), poll_interval=0.05)
    try:
        intake.start()
        assert falco.opened.wait(15)
        _wait(lambda: intake.connects == 1)
        thread = intake._thread
        assert thread is not None
        intake.stop()  # joins for up to 10 s: without the cancel the thread is still in the stream
        assert not thread.is_alive(), "stop() returned with the subscription thread still waiting on Falco"
    finally:
        falco.release.set()
        server.stop(0)


def test_after_a_recovery_the_next_outage_warns_again_and_recovery_is_logged_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    target = f"unix://{tmp_path}/falco.sock"
    sink = Sink()
    intake = GrpcIntake(target, sink, poll_interval=0.05)
    intake.start()  # outage 1: no Falco yet
    server = None
    try:
        _wait(lambda: len(_retries(caplog)) >= 2)
        server = Server(target)
        for i in range(3):
            server.falco.queue.put(response(i))
        sink.wait_for(3)
        again = [r for r in caplog.records if r.name == LOGGER and "receiving alerts from" in r.getMessage()]
        assert len(again) == 1, [r.getMessage() for r in again]
        before = len(_retries(caplog))
        server.stop()  # outage 2
        server = None
        _wait(lambda: len(_retries(caplog)) > before)
        assert _retries(caplog)[before].levelno == logging.WARNING, "the first failure of a new outage is a warning"
    finally:
        intake.stop()
        if server is not None:
            server.stop()


def test_version_gives_up_on_a_server_that_never_answers(tmp_path: Path) -> None:
    """A gRPC server that takes the version call and never answers (a wedged Falco): version()
    must end with FalcoNotFound at its default deadline (5 s), not wait for it."""
    target = f"unix://{tmp_path}/falco.sock"
    falco = _HoldingFalco()
    falco.version = lambda request, context: (falco.release.wait(60), pb.VersionResponse(version="late"))[1]  # type: ignore[method-assign]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((pb.outputs_handler(falco.sub, falco.get), pb.version_handler(falco.version)))
    server.add_insecure_port(target)
    server.start()
    try:
        with pytest.raises(FalcoNotFound, match="DEADLINE_EXCEEDED"):
            GrpcIntake(target, Sink()).version()
    finally:
        falco.release.set()
        server.stop(0)
