"""Helpers for the source tests: CloudTrail records and files, the real plugin as Falco, the daemon.

The plugin is build/plugin/libctbridge.so driven through its C ABI on a thread, as Falco's source
thread drives it; `PluginFalco.ids()` are the eventIDs Falco actually took, in order.
"""

from __future__ import annotations

import datetime
import gzip
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from plugin_abi import PluginLib, default_library

from bridge.daemon import Daemon, DaemonReport
from bridge.model import Alert
from bridge.config import from_dict
from bridge.sources._config import DaemonConfig

SS_PLUGIN_EOF = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def record(event_id: str, when: str = "2026-11-20T10:00:00Z", **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111111111111:user/alice", "accountId": "111111111111"},
        "eventTime": when, "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
        "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
        "requestParameters": {"bucketName": "b", "key": "k\u00e9 \"q\"", "n": 1.50},
        "eventID": event_id, "eventType": "AwsApiCall", "recipientAccountId": "111111111111",
    }
    rec.update(extra)
    return rec


def log_file(records: list[dict[str, Any]], gz: bool = True) -> bytes:
    # CloudTrail's own compact form; raw bytes are what the plugin must get.
    data = b'{"Records":[' + b",".join(json.dumps(r, separators=(",", ":")).encode() for r in records) + b"]}"
    return gzip.compress(data) if gz else data


def key_for(account: str, region: str, when: datetime.datetime, uniq: str, org: str | None = "o-abcdefghij",
            kind: str = "CloudTrail", prefix: str = "") -> str:
    org_part = f"{org}/" if org else ""
    return (f"{prefix}AWSLogs/{org_part}{account}/{kind}/{region}/{when:%Y/%m/%d}/"
            f"{account}_{kind}_{region}_{when:%Y%m%dT%H%MZ}_{uniq}.json.gz")


class PluginFalco(threading.Thread):
    """The real plugin listening on a unix socket; next_batch looped like Falco."""

    def __init__(self, sock: Path) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.lib = PluginLib(default_library())
        self.state = self.lib.init("")
        self.instance = self.state.open(f"unix://{sock}")
        self.payloads: list[bytes] = []
        self.error: BaseException | None = None
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.running = threading.Event()  # cleared: Falco takes nothing, so the plugin ACKs nothing
        self.running.set()
        # Once this many records are taken, pause after each batch (ACKs keep flowing, slowly): a
        # test that kills the bridge there finds work left however fast the bridge has become.
        self.slow_after: int | None = None
        self.slow_pause = 0.05

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                if not self.running.wait(0.1):
                    continue
                rc, events = self.instance.next_batch()
                with self._lock:
                    self.payloads.extend(ev.payload for ev in events)
                if rc == SS_PLUGIN_EOF:
                    return
                if self.slow_after is not None and len(self.payloads) >= self.slow_after:
                    time.sleep(self.slow_pause)
        except BaseException as e:  # reported by the test
            self.error = e

    def taken(self) -> int:
        with self._lock:
            return len(self.payloads)

    def ids(self) -> list[str]:
        with self._lock:
            return [orjson.loads(p)["eventID"] for p in self.payloads]

    def close(self) -> None:
        self.running.set()
        self._halt.set()
        self.join(timeout=30)
        self.instance.close()
        self.state.destroy()


def daemon_config(sock: Path, state: Path, sources: list[dict[str, Any]], quarantine: Path | None = None,
                  **extra: Any) -> DaemonConfig:
    """A config as `run --config` would load it (every section checked), ending once idle."""
    falco = {"socket": str(sock), "listen": f"127.0.0.1:{free_port()}", "quiet": 0.0, "connect_timeout": 30.0}
    falco.update(extra.pop("falco", {}))
    raw = {"falco": falco,
           "state": {"path": str(state), "quarantine_dir": str(quarantine) if quarantine else None},
           "sources": sources, "exit_when_idle": True, **extra}
    return from_dict(DaemonConfig, raw, "")


def run_daemon(config: DaemonConfig, alerts: list[Alert] | None = None) -> DaemonReport:
    sink: Callable[[Alert], None] = (alerts.append if alerts is not None else (lambda a: None))
    return Daemon(config, sink).run()


def wait_for(cond: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def iter_ids(records: list[dict[str, Any]]) -> Iterator[str]:
    return (r["eventID"] for r in records)


class Running:
    """A daemon on a thread; stop() stops it like SIGTERM and returns its report."""

    def __init__(self, config: DaemonConfig, alerts: list[Alert] | None = None) -> None:
        sink: Callable[[Alert], None] = (alerts.append if alerts is not None else (lambda a: None))
        self.daemon = Daemon(config, sink)
        self.out: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.out["report"] = self.daemon.run()
        except BaseException as e:  # re-raised by stop()
            self.out["error"] = e

    def connected(self) -> bool:
        return self.daemon._plugin_ready()[0]

    def stop(self) -> DaemonReport:
        self.daemon.stop.set()
        self.thread.join(60)
        if "error" in self.out:
            raise self.out["error"]
        assert not self.thread.is_alive(), "the daemon did not stop"
        return self.out["report"]  # type: ignore[no-any-return]


def run_until(config: DaemonConfig, cond: Callable[[], bool], timeout: float = 60.0,
              alerts: list[Alert] | None = None) -> tuple[DaemonReport, bool]:
    """Runs the daemon on a thread until cond() holds (or timeout), then stops it like SIGTERM."""
    stop = threading.Event()
    sink: Callable[[Alert], None] = (alerts.append if alerts is not None else (lambda a: None))
    daemon = Daemon(config, sink, stop)
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["report"] = daemon.run()
        except BaseException as e:  # re-raised below
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    met = wait_for(lambda: cond() or not t.is_alive(), timeout) and cond()
    stop.set()
    t.join(60)
    if "error" in out:
        raise out["error"]
    assert not t.is_alive(), "the daemon did not stop"
    return out["report"], met


def plugin_falco_at(sock: Path) -> Iterator[PluginFalco]:
    """The body of the tests' plugin fixtures: skip without a built plugin, else a running
    PluginFalco that must end without error."""
    import pytest

    if not Path(default_library()).is_file():
        pytest.skip(f"plugin library {default_library()} is not built (run `make plugin`)")
    f = PluginFalco(sock)
    f.start()
    yield f
    f.close()
    assert f.error is None, f.error
