"""A plugin-side harness for end-to-end tests (tests/regressions, tests/faults/test_pipeline_*):
the real ctbridge plugin, loaded through its C ABI, listening on a unix socket, with Falco's side
(plugin_next_batch in a loop) played by a thread that can be held still, so ACKs can be held
back on purpose; plus small CloudTrail records and log files."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from plugin_abi import SS_PLUGIN_EOF, SS_PLUGIN_SUCCESS, SS_PLUGIN_TIMEOUT, PluginLib, default_library

REPO = Path(__file__).resolve().parents[1]


class HeldFalco:
    """Takes events from the plugin like Falco's source thread; `limit` caps how many it takes
    (None: no cap). The plugin ACKs a batch only once Falco has taken all of it, so while the
    cap holds, so do the ACKs."""

    def __init__(self, sock: Path, config: dict[str, Any]) -> None:
        self.lib = PluginLib(default_library())
        self.state = self.lib.init(json.dumps(config))
        self.inst = self.state.open(f"unix://{sock}")
        self.events: list[bytes] = []
        self.timestamps: list[int] = []
        self.limit: int | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                with self._lock:
                    held = self.limit is not None and len(self.events) >= self.limit
                if held:
                    time.sleep(0.01)
                    continue
                rc, events = self.inst.next_batch()
                with self._lock:
                    self.events.extend(e.payload for e in events)
                    self.timestamps.extend(e.ts for e in events)
                if rc == SS_PLUGIN_EOF:
                    return
                assert rc in (SS_PLUGIN_SUCCESS, SS_PLUGIN_TIMEOUT), rc
        except BaseException as e:  # noqa: BLE001 - reported by the test through .error
            self.error = e

    def taken(self) -> int:
        with self._lock:
            return len(self.events)

    def event_ids(self) -> list[str]:
        with self._lock:
            return [json.loads(p)["eventID"] for p in self.events]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.inst.close()
        self.state.destroy()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def record(i: int, pad: int = 0) -> dict[str, Any]:
    """A small but complete CloudTrail record with eventID n-<i>."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice",
                         "accountId": "123456789012", "userName": "alice"},
        "eventTime": f"2024-05-09T15:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9",
        "userAgent": "x" * pad,
        "requestParameters": {"bucketName": "b", "key": f"k{i}"},
        "eventID": f"n-{i}",
        "eventType": "AwsApiCall",
        "recipientAccountId": "123456789012",
    }


def write_log(path: Path, records: list[dict[str, Any]]) -> None:
    """A CloudTrail log file ({"Records": [...]})."""
    path.write_text(json.dumps({"Records": records}, separators=(",", ":")), encoding="utf-8")
