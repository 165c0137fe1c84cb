"""What every source provides: blobs of CloudTrail input, one at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from bridge.errors import InputError
from bridge.model import BadItem, Blob


class BlobError(InputError):
    """One blob could not be read. Raised from the blobs() iterator, which stays usable after it."""

    def __init__(self, origin: str, reason: str) -> None:
        super().__init__(f"{origin}: {reason}")
        self.origin = origin
        self.reason = reason


@runtime_checkable
class Source(Protocol):
    def blobs(self) -> Iterator[Blob]:
        """Blobs in order. An unreadable one raises BlobError from next(); calling next() again
        goes on with the following blob, so one bad input cannot end the run (see iter_blobs)."""
        ...

    def close(self) -> None: ...


def iter_blobs(source: Source) -> Iterator[Blob | BadItem]:
    """A source's blobs, with each unreadable one turned into a BadItem instead of an exception."""
    it = source.blobs()
    while True:
        try:
            blob = next(it)
        except StopIteration:
            return
        except BlobError as e:
            yield BadItem(e.origin, str(e))
            continue
        yield blob
