"""What every source provides: blobs of CloudTrail input, one at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bridge.errors import BridgeError, InputError
from bridge.model import BadItem, Blob, Record
from bridge.registry import Registry

if TYPE_CHECKING:
    from bridge.deliver.checkpoints import Checkpoints
    from bridge.deliver.packed import Packed
    from bridge.normalize.quarantine import Quarantine


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


# -- the daemon's sources (`ctbridge run --config`) ---------------------------------------------
#
# A daemon source runs in its own thread(s) and hands the daemon Work: one unit (an S3 object, an
# SQS message, a page of LookupEvents) whose records go to the plugin, and whose completion
# (checkpoint, message deletion) happens only once the plugin has ACKed every one of its records.


class Retry(BridgeError):
    """Reading a Work failed for a reason that may pass (network, throttling, credentials): the
    daemon abandons it without completing it, so it is read again later."""


@dataclass(eq=False)
class Work:
    key: str  # stable name: the checkpoint key and the origin prefix (e.g. s3://bucket/key)
    source: str  # the source's name, for metrics and logs
    # read lazily; may raise Retry. A Packed is a whole CloudTrail file split as bytes (its items
    # are its records, in order): the daemon copies it into batches without a Record per record.
    items: Callable[[], Iterable[Record | BadItem | Packed]]
    checkpointed: bool = True  # resume inside the work from Checkpoints, and mark it complete
    on_done: Callable[[], None] | None = None  # every record ACKed (or skipped): commit
    on_abandon: Callable[[str], None] | None = None  # reading failed (Retry): leave it for later
    newest_ts: float | None = None  # when CloudTrail wrote it (epoch seconds), for the lag metric


class Feed(Protocol):
    """Where a daemon source puts its Work; put() blocks while the daemon is busy (backpressure)."""

    def put(self, work: Work) -> None: ...


@dataclass
class SourceContext:
    """What the daemon gives every source it builds."""

    checkpoints: Checkpoints
    quarantine: Quarantine
    stop: threading.Event
    state_dir: Path | None = None


@runtime_checkable
class DaemonSource(Protocol):
    name: str

    def check(self) -> str:
        """Test access (list, get-attributes...) without reading records; returns what was
        checked, raises BridgeError naming the resource and the problem."""
        ...

    def run(self, feed: Feed) -> None:
        """Feed Work until ctx.stop is set; return when stopped (or when a bounded source is done)."""
        ...

    def ready(self) -> tuple[bool, str]:
        """For /readyz: whether the source could be reached last time it tried."""
        ...


class SourceFactory(Protocol):
    Config: type[Any]

    def __call__(self, name: str, config: Any, ctx: SourceContext) -> DaemonSource: ...


SOURCES: Registry[SourceFactory] = Registry("source")
