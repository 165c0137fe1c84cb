"""Alerts as JSON lines in a file, rotated by size (path, path.1, ... path.N)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

from bridge.config import _where
from bridge.errors import ConfigError
from bridge.model import Alert
from bridge.sinks._base import SINKS, Common, Retryable, Sink
from bridge.sinks._encoding import check_encoding, encode


@dataclass(frozen=True, kw_only=True)
class FileConfig:
    path: str = field(metadata={"doc": "file to append to; its directory must exist"})
    max_bytes: int = field(default=100 * 1024 * 1024, metadata={"doc": "rotate when the file would exceed this; 0 = never"})
    backups: int = field(default=5, metadata={"doc": "rotated files kept (path.1 is the newest)"})
    fsync: bool = field(default=False, metadata={"doc": "fsync after each batch (survive power loss)"})
    encoding: str = field(default="falco", metadata={"doc": "falco or ocsf"})

    def validate(self, path: str) -> None:
        check_encoding(self.encoding, path)
        if self.backups < 0 or self.max_bytes < 0:
            raise ConfigError(f"{_where(path + '.max_bytes')}: max_bytes and backups must be >= 0")


@SINKS.register("file")
class File(Sink):
    Config = FileConfig
    max_batch = 100
    summary = "JSON lines in a local file with size-based rotation."
    example = """\
destinations:
  - name: archive
    type: file
    path: /var/log/ctbridge/alerts.jsonl
    max_bytes: 52428800
    backups: 10
"""

    def __init__(self, name: str, config: FileConfig, common: Common) -> None:
        super().__init__(name, config, common)
        self._out: IO[bytes] | None = None

    def build(self, alerts: Sequence[Alert]) -> bytes:
        return b"".join(encode(a, self.config.encoding) + b"\n" for a in alerts)

    def _open(self) -> IO[bytes]:
        if self._out is None:
            self._out = open(self.config.path, "ab")  # noqa: SIM115 - kept open, closed in close()
        return self._out

    def _rotate(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        p, n = self.config.path, self.config.backups
        if n == 0:
            os.truncate(p, 0)
            return
        for i in range(n - 1, 0, -1):
            if os.path.exists(f"{p}.{i}"):
                os.replace(f"{p}.{i}", f"{p}.{i + 1}")
        os.replace(p, f"{p}.1")

    def send(self, alerts: Sequence[Alert]) -> None:
        data = self.build(alerts)
        try:
            out = self._open()
            size = out.tell()
            if self.config.max_bytes and size > 0 and size + len(data) > self.config.max_bytes:
                self._rotate()
                out = self._open()
            out.write(data)
            out.flush()
            if self.config.fsync:
                os.fsync(out.fileno())
        except OSError as e:  # disk full, a volume not yet mounted: keep the alerts queued
            if self._out is not None:
                self._out.close()
                self._out = None
            raise Retryable(f"{self.name}: {e.strerror or e}") from None

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

