"""Receive alerts from Falco's gRPC server (outputs.service/sub); Falco <= 0.43.1 only."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import orjson

from bridge.errors import ConfigError, FalcoNotFound, InputError, ProtocolError
from bridge.intake import falco_proto as pb
from bridge.intake.http import alert_from_falco_json
from bridge.intake.tls import GrpcTls
from bridge.model import Alert

__all__ = ["GrpcIntake", "GrpcTls", "alert_from_response"]

log = logging.getLogger("ctbridge.intake.grpc")

_BACKOFF_START = 0.1
_BACKOFF_MAX = 5.0
_RPC_TIMEOUT = 5.0
# Falco ends a sub stream when it shuts down. Calling again at once races its gRPC server's
# shutdown, which Falco 0.43.1 (with Debian's gRPC 1.51) can abort on (an assertion in
# grpc_server_request_registered_call; seen in 3 of 8 replays). A Falco that restarts takes
# longer than this to listen again anyway.
_AFTER_SERVER_END = 2.0


def _iso_time(seconds: int, nanos: int) -> str:
    """Falco's alert time form: 2020-10-19T17:24:16.000000000Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def _enum_name(enum: Any, number: int) -> str:
    try:
        return str(enum.Name(number))
    except ValueError:
        return str(number)


def alert_from_response(resp: Any) -> Alert:
    """Map one outputs.response to an Alert; with json_output: true, `output` is the JSON alert itself."""
    source = resp.source or _enum_name(pb.Source, resp.source_deprecated).lower()
    base: dict[str, Any] = {
        "time": _iso_time(resp.time.seconds, resp.time.nanos),
        "rule": resp.rule,
        "priority": _enum_name(pb.Priority, resp.priority),
        "source": source,
        "output": resp.output,
        "output_fields": dict(resp.output_fields),  # gRPC carries every value as a string
        "hostname": resp.hostname,
        "tags": list(resp.tags),
    }
    if resp.output.startswith("{"):
        try:
            inner = orjson.loads(resp.output)
            if isinstance(inner, dict) and "rule" in inner:
                return alert_from_falco_json(base | inner, "grpc")
        except (orjson.JSONDecodeError, InputError) as e:
            log.debug("gRPC output looked like JSON but is not a Falco alert (%s); keeping it as text", e)
    return alert_from_falco_json(base, "grpc")


class GrpcIntake:
    """Subscribes to Falco's outputs.service/sub in a background thread and reconnects with backoff.

    Falco's sub is pull-driven: it hands out queued alerts only when it reads a request from our
    stream. So we send an empty request every poll_interval, and one more after each alert.
    """

    def __init__(
        self,
        target: str,
        on_alert: Callable[[Alert], None],
        tls: GrpcTls | None = None,
        poll_interval: float = 0.2,
    ) -> None:
        if not target:
            raise ConfigError("gRPC intake: empty target; use unix:///path/falco.sock or host:port")
        if tls is not None and target.startswith("unix:"):
            raise ConfigError(f"gRPC intake: TLS is for TCP targets, not {target!r}")
        if poll_interval <= 0:
            raise ConfigError(f"gRPC intake: poll_interval must be > 0, got {poll_interval}")
        self.target = target
        self.on_alert = on_alert
        self.poll_interval = poll_interval
        self._creds = grpc.ssl_channel_credentials(*tls.read()) if tls else None
        self.received = 0
        self.failed = 0
        self.connects = 0  # streams opened; more than one means Falco restarted or was late
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._lock = threading.Lock()
        self._call: Any = None
        self._thread: threading.Thread | None = None
        self._last_alert = time.monotonic()

    def _channel(self) -> grpc.Channel:
        if self._creds is not None:
            return grpc.secure_channel(self.target, self._creds)
        return grpc.insecure_channel(self.target)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="grpc-intake", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def drain(self, quiet: float) -> None:
        """Return once no alert has arrived for `quiet` seconds (counting from now at the earliest)."""
        start = time.monotonic()
        while True:
            remaining = max(self._last_alert, start) + quiet - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, 0.05))

    def version(self, timeout: float = _RPC_TIMEOUT) -> str:
        """Falco's version string, from falco.version.service/version."""
        channel = self._channel()
        try:
            resp = pb.version_call(channel)(pb.VersionRequest(), timeout=timeout)
        except grpc.RpcError as e:
            code = e.code() if isinstance(e, grpc.Call) else None
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise FalcoNotFound(f"no Falco gRPC server answering at {self.target}: {code.name}") from None
            raise ProtocolError(f"Falco gRPC version call to {self.target} failed: {e}") from None
        finally:
            channel.close()
        return str(resp.version)

    def _requests(self, done: threading.Event) -> Iterator[Any]:
        while not (done.is_set() or self._stop.is_set()):
            yield pb.OutputsRequest()
            self._kick.wait(self.poll_interval)
            self._kick.clear()

    def _run(self) -> None:
        backoff = _BACKOFF_START
        failures = 0
        while not self._stop.is_set():
            channel = self._channel()
            done = threading.Event()
            try:
                call = pb.sub_call(channel)(self._requests(done))
                with self._lock:
                    self._call = call
                    if self._stop.is_set():
                        call.cancel()
                self.connects += 1
                for resp in call:
                    if failures:
                        log.info("gRPC intake: receiving alerts from %s again", self.target)
                    backoff, failures = _BACKOFF_START, 0
                    self._kick.set()  # ask for the next one right away
                    self._deliver(resp)
                log.info("gRPC intake: %s ended the stream; reconnecting in %.0fs", self.target, _AFTER_SERVER_END)
                backoff = max(backoff, _AFTER_SERVER_END)
            except grpc.RpcError as e:
                if self._stop.is_set():
                    break
                failures += 1
                code = e.code().name if isinstance(e, grpc.Call) else "?"
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "gRPC intake: %s: %s; retrying (backoff %.1fs)", self.target, code, backoff)
            finally:
                done.set()
                with self._lock:
                    self._call = None
                channel.close()
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, _BACKOFF_MAX)

    def _deliver(self, resp: Any) -> None:
        self._last_alert = time.monotonic()
        try:
            alert = alert_from_response(resp)
        except InputError as e:
            self.failed += 1
            log.warning("gRPC intake: unusable alert from %s: %s", self.target, e)
            return
        self.received += 1
        try:
            self.on_alert(alert)
        except Exception:
            self.failed += 1
            log.exception("alert handler failed on rule %r", alert.rule)
