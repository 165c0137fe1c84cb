"""Where bad input goes: one WARNING line each, and optionally the bytes plus the reason on disk."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from pathlib import Path

from bridge.model import BadItem

log = logging.getLogger("ctbridge.quarantine")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(origin: str) -> str:
    """A file name derived from origin: no path separators, no leading dot, bounded length, unique-ish."""
    digest = hashlib.sha256(origin.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    stem = _UNSAFE.sub("_", origin).strip("._")[-100:].lstrip("._") or "item"
    return f"{stem}-{digest}"


class Quarantine:
    """Counts and reports BadItems; with a directory, keeps them as `<name>.raw` + `<name>.reason.json`."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.count = 0
        self.write_errors = 0
        self._lock = threading.Lock()
        self._dir_ready = False

    def put(self, bad: BadItem) -> None:
        with self._lock:
            self.count += 1
        log.warning("quarantined %s: %s", bad.origin, bad.reason)
        if self.directory is None:
            return
        try:
            self._write(bad)
        except OSError as e:
            # The WARNING above already names the item; this only says the copy on disk is missing.
            with self._lock:
                self.write_errors += 1
            log.error("could not write quarantined %s to %s: %s", bad.origin, self.directory, e)

    def _write(self, bad: BadItem) -> None:
        assert self.directory is not None
        with self._lock:
            if not self._dir_ready:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._dir_ready = True
            base = self._free_name(safe_name(bad.origin))
            raw_name = None
            if bad.raw is not None:
                raw_name = base + ".raw"
                _write_new(self.directory / raw_name, bad.raw)
            reason = {
                "origin": bad.origin,
                "reason": bad.reason,
                "quarantined_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "raw_file": raw_name,
                "raw_bytes": None if bad.raw is None else len(bad.raw),
            }
            _write_new(self.directory / (base + ".reason.json"), json.dumps(reason, indent=2).encode() + b"\n")

    def _free_name(self, base: str) -> str:
        assert self.directory is not None
        name, n = base, 1
        while (self.directory / (name + ".reason.json")).exists() or (self.directory / (name + ".raw")).exists():
            n += 1
            name = f"{base}.{n}"
        return name


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
