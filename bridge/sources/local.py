"""Local files and directories of CloudTrail logs, read one file at a time."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import ConfigError, InputError
from bridge.model import BadItem, Blob, Record
from bridge.normalize.logfile import records_from_blob
from bridge.normalize.parallel import ParallelNormalizer
from bridge.normalize.stream import records_from_chunks
from bridge.sources._base import SOURCES, BlobError, Feed, SourceContext, Work, iter_blobs

# Only these are picked up when walking a directory; a file named explicitly is read whatever its name.
SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")


def wanted(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(SUFFIXES)


class _Blobs:
    """The blob iterator: an unreadable file raises BlobError from one next() and the walk goes on.

    A class rather than a generator because a generator is finished once it raises.
    """

    def __init__(self, roots: Sequence[Path]) -> None:
        # A stack of pending paths, reversed so they come out in order; directories expand lazily.
        self._pending: list[Path] = list(reversed(roots))
        self._seen_dirs: set[tuple[int, int]] = set()

    def __iter__(self) -> _Blobs:
        return self

    def __next__(self) -> Blob:
        while self._pending:
            path = self._pending.pop()
            try:
                if path.is_dir():
                    self._expand(path)
                    continue
                if not path.is_file():
                    # Reading a fifo would block the run; a dangling link is worth a report.
                    what = "a dangling symlink" if path.is_symlink() and not path.exists() else "not a regular file"
                    raise BlobError(str(path), f"cannot read: {what}")
                return Blob(str(path), path.read_bytes())
            except OSError as e:
                raise BlobError(str(path), f"cannot read: {e.strerror or e}") from None
        raise StopIteration

    def _expand(self, directory: Path) -> None:
        st = directory.stat()
        if (st.st_dev, st.st_ino) in self._seen_dirs:
            return  # a symlink loop, or the same directory named twice
        self._seen_dirs.add((st.st_dev, st.st_ino))
        with os.scandir(directory) as entries:
            names = sorted(e.name for e in entries if not e.name.startswith("."))
        children: list[Path] = []
        for name in names:
            child = directory / name
            if child.is_dir() or wanted(name):
                children.append(child)
        self._pending.extend(reversed(children))


class LocalSource:
    """Files and directories (recursive, sorted); hidden files and unrelated names are skipped."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        if not paths:
            raise ConfigError("local source: no paths given")
        self.paths = [Path(p) for p in paths]
        for p in self.paths:
            if not os.path.lexists(p):
                raise ConfigError(f"local source: path {str(p)!r} does not exist")

    def blobs(self) -> Iterator[Blob]:
        return _Blobs(self.paths)

    def close(self) -> None:
        pass  # nothing held open between blobs


def iter_local_records(paths: Sequence[str | Path], workers: int = 1) -> Iterator[Record | BadItem]:
    """Local source + normalize: every record under paths, and every problem as a BadItem.

    With workers > 1, files are normalized in that many processes (same order, same items)."""
    source = LocalSource(paths)
    try:
        if workers > 1:
            with ParallelNormalizer(workers) as pool:
                yield from pool.records(iter_blobs(source))
            return
        for item in iter_blobs(source):
            if isinstance(item, BadItem):
                yield item
            else:
                yield from records_from_blob(item)
    finally:
        source.close()


# -- `type: local` for the daemon (`ctbridge run --config`): what `run --watch` does ------------


@dataclass(frozen=True)
class LocalConfig:
    paths: list[str]  # directories followed recursively (or files)
    poll_interval: float = 10.0
    settle: float = 2.0  # a file is read once it has not changed for this long
    once: bool = False  # scan once and stop

    def validate(self, path: str) -> None:
        if not self.paths:
            raise ConfigError(f"{path}.paths: at least one directory is required")


def _file_chunks(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}") from None


@SOURCES.register("local")
class LocalDirSource:
    Config = LocalConfig

    def __init__(self, name: str, config: LocalConfig, ctx: SourceContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self._inflight: set[str] = set()
        self._lock = threading.Lock()

    def check(self) -> str:
        for p in self.config.paths:
            if not os.path.isdir(p) and not os.path.isfile(p):
                raise ConfigError(f"local source {self.name}: {p!r} is not a directory or file")
            if not os.access(p, os.R_OK):
                raise ConfigError(f"local source {self.name}: {p!r} is not readable")
        return f"{', '.join(self.config.paths)}: readable"

    def ready(self) -> tuple[bool, str]:
        missing = [p for p in self.config.paths if not os.path.exists(p)]
        return (not missing, f"missing: {', '.join(missing)}" if missing else "paths present")

    def run(self, feed: Feed) -> None:
        while not self.ctx.stop.is_set():
            for path in self._scan():
                key = str(path)
                with self._lock:
                    if key in self._inflight:
                        continue
                    self._inflight.add(key)
                feed.put(self._work(key, path))
            if self.config.once:
                return
            self.ctx.stop.wait(self.config.poll_interval)

    def _work(self, key: str, path: Path) -> Work:
        def settled(_reason: str = "") -> None:
            with self._lock:
                self._inflight.discard(key)

        return Work(key=key, source=self.name, items=lambda: self._read(path), on_done=settled,
                    on_abandon=settled, newest_ts=path.stat().st_mtime if path.exists() else None)

    def _settled(self, key: str) -> None:
        with self._lock:
            self._inflight.discard(key)

    def _read(self, path: Path) -> Iterator[Record | BadItem]:
        try:
            yield from records_from_chunks(str(path), _file_chunks(path))
        except InputError as e:
            yield BadItem(str(path), f"{path}: {e}")

    def _scan(self) -> Iterator[Path]:
        now = time.time()
        for root in self.config.paths:
            r = Path(root)
            files = [r] if r.is_file() else sorted(p for p in r.rglob("*") if p.is_file() and wanted(p.name)
                                                   and not any(part.startswith(".") for part in
                                                               p.relative_to(r).parts))
            for p in files:
                try:
                    if now - p.stat().st_mtime < self.config.settle:
                        continue
                except OSError:
                    continue
                if not self.ctx.checkpoints.is_complete(str(p)):
                    yield p
