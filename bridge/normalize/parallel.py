"""Normalize blobs in worker processes, keeping their order.

Decompressing and parsing log files is CPU-bound Python that the GIL keeps on one core; with
workers, reading runs beside delivery. At most `ahead` blobs are in flight, so memory stays flat
whatever the input size.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from bridge.model import BadItem, Blob, Record
from bridge.normalize.logfile import DEFAULT_MAX_RECORD_BYTES, records_from_blob

# Plain tuples cross the process boundary faster than the frozen dataclasses.
_Item = tuple[bytes, int, str, str | None] | tuple[str, str, bytes | None]


def _normalize(name: str, data: bytes, max_record_bytes: int) -> list[_Item]:
    out: list[_Item] = []
    for item in records_from_blob(Blob(name, data), max_record_bytes):
        if isinstance(item, Record):
            out.append((item.raw, item.ts_ns, item.origin, item.event_id))
        else:
            out.append((item.origin, item.reason, item.raw))
    return out


def _rebuild(items: list[_Item]) -> Iterator[Record | BadItem]:
    for t in items:
        if len(t) == 4:
            yield Record(*t)
        else:
            yield BadItem(*t)


class ParallelNormalizer:
    def __init__(self, workers: int, ahead: int | None = None,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        # spawn, not fork: the bridge runs intake threads, and a forked child would inherit their locks.
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self._ahead = ahead or 2 * workers
        self._max_record_bytes = max_record_bytes

    def records(self, blobs: Iterable[Blob | BadItem]) -> Iterator[Record | BadItem]:
        """Every record of every blob, in blob order; unreadable blobs pass through as BadItems."""
        pending: deque[Future[list[_Item]] | BadItem] = deque()
        it = iter(blobs)
        exhausted = False
        while True:
            while not exhausted and len(pending) < self._ahead:
                blob = next(it, None)
                if blob is None:
                    exhausted = True
                elif isinstance(blob, BadItem):
                    pending.append(blob)
                else:
                    pending.append(self._pool.submit(_normalize, blob.name, blob.data, self._max_record_bytes))
            if not pending:
                return
            head = pending.popleft()
            if isinstance(head, BadItem):
                yield head
            else:
                yield from _rebuild(head.result())

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ParallelNormalizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
