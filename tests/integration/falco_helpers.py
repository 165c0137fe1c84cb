"""Plain helpers for the integration tests (fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "samples" / "seed"
RULES = Path(os.environ.get("CTBRIDGE_TEST_RULES", REPO / "rules"))  # the rules the seed expectations hold for
IMAGE_HTTP = "falcosecurity/falco:0.45.0"  # no gRPC: alerts come back over http_output
IMAGE_GRPC = "falcosecurity/falco:0.43.1"  # the last Falco with gRPC output
BRIDGE_TIMEOUT_S = 300


@dataclass(frozen=True)
class Expected:
    alerts: list[dict[str, Any]]
    quiet: list[dict[str, Any]]
    inputs: dict[str, str]

    def for_inputs(self, *inputs: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["input"] in inputs]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_socket(path: Path, timeout_s: float, alive: Callable[[], bool] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return
        if alive is not None and not alive():
            raise AssertionError(f"Falco stopped before creating {path}")
        time.sleep(0.1)
    raise AssertionError(f"{path} did not appear within {timeout_s}s")


def run_bridge(args: Sequence[str], out: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """`python -m bridge replay ...` (env: the whole environment, default ours); the alerts it wrote to --out."""
    cmd = [sys.executable, "-m", "bridge", "replay", *args, "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=BRIDGE_TIMEOUT_S,
                          env=dict(os.environ) if env is None else env, check=False)
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return read_alerts(out)


def read_alerts(path: Path) -> list[dict[str, Any]]:
    alerts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("{"):
            alert = json.loads(line)
            if alert.get("source") != "internal":
                alerts.append(alert)
    return alerts


def assert_alerts(alerts: list[dict[str, Any]], wanted: list[dict[str, Any]], *, check_time: bool = True) -> None:
    """Exactly the wanted alerts: one per (rule, event id), with priority, tags and output fields."""
    got = {(a["rule"], str(a.get("output_fields", {}).get("ct.id"))): a for a in alerts}
    assert len(got) == len(alerts), f"duplicate alerts: {[(a['rule'], a['output_fields'].get('ct.id')) for a in alerts]}"
    want = {(w["rule"], w["event_id"]): w for w in wanted}
    assert sorted(got) == sorted(want), f"alerts differ:\n got  {sorted(got)}\n want {sorted(want)}"
    for key, w in want.items():
        a = got[key]
        assert a["source"] == "aws_cloudtrail"
        assert a["priority"].lower() == w["priority"].lower(), key
        assert sorted(a["tags"]) == sorted(w["tags"]), key
        for field, value in w["output_fields"].items():
            assert str(a["output_fields"].get(field)) == str(value), f"{key}: {field}"
        if check_time:
            assert str(a["time"]).startswith(w["time"][:19]), f"{key}: time {a['time']}"
        assert w["event_id"] in a["output"], f"{key}: output {a['output']!r}"
