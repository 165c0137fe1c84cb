"""Local files and directories of CloudTrail logs, read one file at a time."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from bridge.errors import ConfigError
from bridge.model import BadItem, Blob, Record
from bridge.normalize.logfile import records_from_blob
from bridge.normalize.parallel import ParallelNormalizer
from bridge.sources._base import BlobError, iter_blobs

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
