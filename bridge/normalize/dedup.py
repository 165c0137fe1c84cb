"""Drop records already seen, by eventID, in bounded memory."""

from __future__ import annotations

import hashlib

from bridge.model import Record


class Dedup:
    """Remembers recent eventIDs; at most max_entries, oldest forgotten first.

    Two generations of hashes: lookups check both, a hit is refreshed into the young one, and
    when the young one fills up the old one is dropped. So an ID seen within the last
    max_entries // 2 distinct IDs is always recognised. Keys are 64-bit hashes of the ID (a
    false duplicate needs a hash collision: about n^2 / 2^65, 3e-8 for a million IDs).
    """

    def __init__(self, max_entries: int = 1_000_000) -> None:
        if max_entries < 2:
            raise ValueError(f"max_entries must be at least 2, got {max_entries}")
        self._half = max_entries // 2
        self._young: set[int] = set()
        self._old: set[int] = set()
        self.duplicates = 0

    def seen(self, record: Record) -> bool:
        """True if this record's eventID was seen before; records without one never are."""
        if not record.event_id:
            return False
        return self.seen_key(hash(record.event_id))

    def seen_key(self, key: int) -> bool:
        """seen() for a key computed elsewhere (e.g. stable_hash in a worker process); keys of one
        Dedup must all come from the same function."""
        if key in self._young:
            self.duplicates += 1
            return True
        hit = key in self._old
        if hit:
            self._old.discard(key)
            self.duplicates += 1
        self._add(key)
        return hit

    def seen_keys(self, keys: list[int]) -> list[int]:
        """seen_key() for each key in order (0 = no eventID, never a duplicate); returns the
        indexes of the duplicates. When none of the keys was seen and they are distinct (the
        usual case: one log file) this is a few set operations, not a loop."""
        present = [k for k in keys if k] if 0 in keys else keys
        if (len(self._young) + len(present) < self._half and self._young.isdisjoint(present)
                and self._old.isdisjoint(present)):
            before = len(self._young)
            self._young.update(present)
            if len(self._young) - before == len(present):
                return []
            self._young.difference_update(present)  # repeats inside the batch: do it one by one
        return [i for i, k in enumerate(keys) if k and self.seen_key(k)]

    def _add(self, key: int) -> None:
        if len(self._young) >= self._half:
            self._old = self._young
            self._young = set()
        self._young.add(key)

    def __len__(self) -> int:
        return len(self._young) + len(self._old)


def stable_hash(event_id: str) -> int:
    """A 63-bit hash of an eventID that is the same in every process (hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little") >> 1


class WindowDedup(Dedup):
    """Dedup keyed by stable_hash, so that the IDs the plugin has ACKed can be stored
    (Checkpoints.add_seen) and loaded again after a restart (preload); `window` seconds of them
    are kept in the database, at most max_entries in memory."""

    def preload(self, hashes: list[int]) -> None:
        for h in hashes:
            self._add(h)

    def check(self, event_id: str | None) -> int | None:
        """None if this eventID was seen (a duplicate), else its hash (now remembered); records
        without an eventID are never duplicates (hash 0 means: nothing to remember)."""
        return self.check_key(stable_hash(event_id)) if event_id else 0

    def check_key(self, h: int) -> int | None:
        """check() for a hash computed elsewhere (packed.event_key, the same function)."""
        if not h:
            return 0
        return None if self.seen_key(h) else h

    def check_keys(self, keys: list[int]) -> list[int]:
        """The indexes of the repeats among keys (0: no eventID), each key now remembered."""
        return self.seen_keys(keys)

    def forget(self, h: int) -> None:
        """A record that could not be sent after all (quarantined): a later copy may go through."""
        self._young.discard(h)
        self._old.discard(h)
