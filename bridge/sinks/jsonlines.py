"""Alerts as JSON lines, Falco's keys first, to stdout or a file: the sink `replay` and `run` print to."""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import IO

import orjson

from bridge.errors import ConfigError
from bridge.model import Alert


class JsonLinesSink:
    """One line per alert, flushed at once (a consumer tails it). path None means stdout.

    append: keep what a previous run wrote (a restarted follower); otherwise the file is replaced.
    """

    def __init__(self, path: str | None = None, *, append: bool = False) -> None:
        self._lock = threading.Lock()
        self._own = path is not None
        if path is None:
            self._out: IO[bytes] = sys.stdout.buffer
            return
        try:
            self._out = open(path, "ab" if append else "wb")  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise ConfigError(f"--out {path!r}: cannot open: {e.strerror or e}") from None

    def __call__(self, alert: Alert) -> None:
        line = orjson.dumps(alert.to_dict()) + b"\n"
        with self._lock:
            self._out.write(line)
            self._out.flush()

    def close(self) -> None:
        if self._own:
            self._out.close()

    def __enter__(self) -> JsonLinesSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
