"""Write-ahead journal of sealed batches: what a SIGKILLed bridge had sent that the plugin holds.

Before a batch's bytes go to the plugin, one SQLite row says what it covers: its seq, the plugin
instance that seq was given for, the eventID hashes of its records and each input's position at
its end. An ACK commits checkpoints as before and clears the rows up to it. At the next start,
the plugin's WELCOME (instance_id, last_seq: the highest batch it received in full) tells which
rows it holds: if the plugin is the same instance, rows with seq <= last_seq are committed as an
ACK would commit them (the plugin hands those records to Falco on its own); every other row is
dropped and its records are read and sent again. So while the plugin stays up, a killed bridge
neither loses nor repeats a record. A new plugin instance (Falco restarted) keeps at-least-once
for what was in flight: the old plugin took what it had with it.
"""

from __future__ import annotations

import json
import logging
import time
from array import array
from collections import deque

from bridge.deliver.checkpoints import Checkpoints

log = logging.getLogger("ctbridge.journal")


class _Run:
    """A run of a Packed's items not yet wholly in sealed batches (Journal.note_run)."""

    __slots__ = ("before", "key", "done", "items", "skip", "hashes")

    def __init__(self, before: int, key: str, done: int, items: int, skip: list[int], hashes: list[int]) -> None:
        self.before, self.key, self.done, self.items, self.skip, self.hashes = before, key, done, items, skip, hashes


def _nth_kept(k: int, skip: list[int]) -> int:
    """The 0-based index of the k-th (from 1) item not in skip (sorted)."""
    idx = k - 1
    for s in skip:
        if s > idx:
            break
        idx += 1
    return idx


class Journal:
    """Marks in send order (note), journal rows at seal (on_seal), cleared at ACK (acked)."""

    def __init__(self, checkpoints: Checkpoints) -> None:
        self._cp = checkpoints
        # Marks not yet in a sealed batch: (records sent when made, input or "", done, complete, hash)
        self._open: deque[tuple[int, str, int, bool, int] | _Run] = deque()
        self._sealed = 0  # records covered by the rows written so far
        self.enabled = True  # off: the pre-journal behaviour (tests plant it to see theirs fail)

    def note(self, sent: int, key: str, done: int, complete: bool, h: int) -> None:
        """A record (h != 0 when it has an eventID) or a skipped item, counted in send order;
        key "" for an input without a checkpoint (an SQS message)."""
        self._open.append((sent, key, done, complete, h))

    def note_run(self, before: int, key: str, done: int, items: int, skip: list[int], hashes: list[int]) -> None:
        """Items done+1 .. done+items, sent as records before+1 .. before+len(hashes) except the
        ones at the (sorted, 0-based) indexes in skip, dropped as repeats."""
        self._open.append(_Run(before, key, done, items, skip, hashes))

    def unnote(self) -> None:
        """Takes back the last note (the record was refused before it joined a batch)."""
        self._open.pop()  # always a note(): runs are never refused

    def on_seal(self, seq: int, instance: int, sealed: int) -> None:
        """PluginClient's hook: the batch ending at record `sealed` got `seq` for `instance`;
        called again with the same `sealed` when a new plugin instance renumbers it."""
        if not self.enabled:
            return
        if sealed <= self._sealed:
            self._cp.journal_renumber(sealed, seq, instance)
            return
        hashes = array("q")
        positions: dict[str, tuple[int, bool]] = {}
        while self._open:
            e = self._open[0]
            if isinstance(e, _Run):
                n = len(e.hashes)
                if e.before > sealed or (n and e.before == sealed):
                    break
                k = min(n, sealed - e.before)
                if k == n:
                    self._open.popleft()
                    hashes.extend(h for h in e.hashes if h)
                    if e.key:
                        positions[e.key] = (e.done + e.items, False)
                    continue
                cut = _nth_kept(k, e.skip) + 1  # the run's items up to its k-th record
                hashes.extend(h for h in e.hashes[:k] if h)
                if e.key:
                    positions[e.key] = (e.done + cut, False)
                e.before, e.done, e.items = e.before + k, e.done + cut, e.items - cut
                e.hashes = e.hashes[k:]
                e.skip = [s - cut for s in e.skip if s >= cut]
                break
            sent, key, done, complete, h = e
            if sent > sealed:
                break
            self._open.popleft()
            if h:
                hashes.append(h)
            if key:
                positions[key] = (done, complete)
        self._sealed = sealed
        self._cp.journal_put(sealed, seq, instance, hashes.tobytes(), json.dumps(positions))

    def acked(self, records: int) -> None:
        """In the ACK's transaction: rows of batches now committed by the checkpoints go."""
        if self.enabled:
            self._cp.journal_clear(records)

    def recover(self, instance: int, last_seq: int) -> tuple[int, int]:
        """At start, after WELCOME and before anything is read: commits the rows the plugin holds,
        drops the rest. Returns (batches committed, batches whose records will be sent again)."""
        kept = dropped = 0
        rows = self._cp.journal_rows()
        if not rows:
            return 0, 0
        with self._cp.transaction():
            for seq, inst, blob, positions in rows:
                if inst != instance or seq > last_seq:
                    dropped += 1
                    continue
                kept += 1
                for key, (done, complete) in json.loads(positions).items():
                    self._cp.advance(key, int(done), bool(complete))
                hashes = array("q")
                hashes.frombytes(blob)
                if hashes:
                    self._cp.add_seen(hashes.tolist(), time.time())
            self._cp.journal_clear()
        log.info("journal: %d batches the plugin holds committed as ACKed, %d to send again", kept, dropped)
        return kept, dropped
