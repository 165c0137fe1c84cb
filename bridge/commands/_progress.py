"""A one-line progress display for `ctbridge replay` on a terminal; silent when stderr is not one."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from bridge.model import BadItem, Record


class Progress:
    """Counts inputs, bytes and records as they are read; redraws `\\r...` every `every` seconds."""

    def __init__(self, alerts: Callable[[], int], stream: TextIO | None = None, every: float = 0.5,
                 force: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self.alerts = alerts
        self.files = 0
        self.bytes = 0
        self.records = 0
        self.bad = 0
        self._last_input = ""
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._every = every
        self._thread: threading.Thread | None = None

    def item(self, item: Record | BadItem) -> None:
        origin = item.origin.split("#", 1)[0]
        if origin != self._last_input:
            self._last_input = origin
            self.files += 1
        if isinstance(item, Record):
            self.records += 1
            self.bytes += len(item.raw)
        else:
            self.bad += 1

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        return (f"{self.files} files, {self.bytes / 1e6:.1f} MB, {self.records} records "
                f"({self.records / elapsed:,.0f}/s), {self.bad} quarantined, {self.alerts()} alerts")

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.stream.write("\r\x1b[K" + self.line())
            self.stream.flush()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.stream.write("\r\x1b[K" + self.line() + "\n")
            self.stream.flush()
