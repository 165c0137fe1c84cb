"""Alerts as JSON lines on standard output (a log collector picks them up)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from bridge.model import Alert
from bridge.sinks._base import SINKS, Sink
from bridge.sinks._encoding import check_encoding, encode


@dataclass(frozen=True, kw_only=True)
class StdoutConfig:
    encoding: str = field(default="falco", metadata={"doc": "falco (Falco's JSON plus id) or ocsf"})

    def validate(self, path: str) -> None:
        check_encoding(self.encoding, path)


@SINKS.register("stdout")
class Stdout(Sink):
    Config = StdoutConfig
    max_batch = 100
    summary = "One JSON line per alert on standard output."
    example = """\
destinations:
  - name: console
    type: stdout
"""
    _lock = threading.Lock()

    def build(self, alerts: Sequence[Alert]) -> bytes:
        return b"".join(encode(a, self.config.encoding) + b"\n" for a in alerts)

    def send(self, alerts: Sequence[Alert]) -> None:
        data = self.build(alerts)
        with self._lock:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
