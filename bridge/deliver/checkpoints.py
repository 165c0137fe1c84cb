"""How far each input file is safely in Falco, in SQLite; advanced only on plugin ACKs."""

from __future__ import annotations

import contextlib
import sqlite3
from array import array
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from bridge.errors import ConfigError, DeliveryError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    name     TEXT PRIMARY KEY,
    done     INTEGER NOT NULL,  -- items of the file (records and bad items, in read order) handled
    complete INTEGER NOT NULL,  -- 1 once every item is handled: the file is never read again
    updated  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (  -- a source's position (S3 listing time, log stream token...)
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_ids (  -- eventIDs in Falco, one row each (read, no longer written)
    h    INTEGER PRIMARY KEY,  -- 64-bit hash of the eventID
    at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_ids_at ON seen_ids (at);
CREATE TABLE IF NOT EXISTS seen_runs (  -- eventIDs in Falco, for dedup across restarts: one row per ACK
    at     REAL NOT NULL,
    n      INTEGER NOT NULL,
    hashes BLOB NOT NULL  -- 8 bytes (int64, native order) per eventID hash
);
CREATE INDEX IF NOT EXISTS seen_runs_at ON seen_runs (at);
CREATE TABLE IF NOT EXISTS journal (  -- sealed batches not yet ACKed (bridge/deliver/journal.py)
    sealed    INTEGER PRIMARY KEY,  -- records sealed by this run when the batch was (its last one)
    seq       INTEGER NOT NULL,
    instance  TEXT NOT NULL,        -- the plugin instance the seq was given for (u64, decimal)
    hashes    BLOB NOT NULL,        -- eventID hashes of its records, 8 bytes each
    positions TEXT NOT NULL         -- JSON {input name: [items handled, complete]} at its end
);
"""


class Checkpoints:
    def __init__(self, path: str | Path) -> None:
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL still survives the process being killed (what checkpoints guard
            # against); it skips the fsync per commit, which cost 5 ms per ACK.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(f"BEGIN;{_SCHEMA}COMMIT;")  # one transaction: the WAL holds each page once
            self._lock = threading.RLock()
        except sqlite3.Error as e:
            raise ConfigError(f"checkpoint database {str(path)!r}: {e}") from None
        self._path = str(path)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """The lock, and SQLite errors (disk full, I/O) as a DeliveryError naming the database."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as e:
                raise DeliveryError(f"checkpoint database {self._path!r}: {e}") from None

    def position(self, name: str) -> tuple[int, bool]:
        """(items already handled, whether the file is complete); (0, False) for a new file."""
        with self._guard():
            row = self._db.execute("SELECT done, complete FROM files WHERE name = ?", (name,)).fetchone()
        return (int(row[0]), bool(row[1])) if row else (0, False)

    def advance(self, name: str, done: int, complete: bool = False) -> None:
        """Record progress; never moves backwards (ACKs may be reported late, never early)."""
        with self._guard():
            self._db.execute(
                "INSERT INTO files (name, done, complete, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET done = max(done, excluded.done), "
                "complete = max(complete, excluded.complete), updated = excluded.updated",
                (name, done, int(complete), time.time()),
            )

    def is_complete(self, name: str) -> bool:
        with self._guard():
            row = self._db.execute("SELECT complete FROM files WHERE name = ?", (name,)).fetchone()
        return bool(row and row[0])

    def cursor(self, name: str) -> str | None:
        with self._guard():
            row = self._db.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def set_cursor(self, name: str, value: str) -> None:
        with self._guard():
            self._db.execute("INSERT INTO cursors (name, value) VALUES (?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (name, value))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Several advances (and seen IDs) committed together, or not at all."""
        with self._guard():
            self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add_seen(self, hashes: Iterable[int], at: float) -> None:
        """One row for the lot: a row per ID cost more than the rest of an ACK together."""
        arr = array("q", hashes)
        if not arr:
            return
        with self._guard():
            self._db.execute("INSERT INTO seen_runs (at, n, hashes) VALUES (?, ?, ?)", (at, len(arr), arr.tobytes()))

    def seen_since(self, since: float, limit: int) -> list[int]:
        """The newest `limit` seen IDs recorded after `since`, oldest first."""
        runs: list[array[int]] = []
        total = 0
        with self._guard():
            for (blob,) in self._db.execute("SELECT hashes FROM seen_runs WHERE at >= ? ORDER BY at DESC, rowid DESC",
                                            (since,)):
                a = array("q")
                a.frombytes(blob)
                runs.append(a)
                total += len(a)
                if total >= limit:
                    break
            legacy = self._db.execute("SELECT h FROM seen_ids WHERE at >= ? ORDER BY at DESC LIMIT ?",
                                      (since, max(0, limit - total))).fetchall()
        out = [int(r[0]) for r in reversed(legacy)]
        for a in reversed(runs):
            out += a.tolist()
        return out[-limit:] if limit > 0 else []

    def prune_seen(self, before: float, keep: int) -> None:
        """Drops IDs older than `before`, and runs beyond the newest `keep` IDs (the run that
        reaches `keep` is kept whole)."""
        with self._guard():
            self._db.execute("DELETE FROM seen_runs WHERE at < ?", (before,))
            total, drop = 0, []
            for rowid, n in self._db.execute("SELECT rowid, n FROM seen_runs ORDER BY at DESC, rowid DESC"):
                if total >= keep:
                    drop.append((rowid,))
                total += n
            self._db.executemany("DELETE FROM seen_runs WHERE rowid = ?", drop)
            self._db.execute("DELETE FROM seen_ids WHERE at < ?", (before,))
            self._db.execute("DELETE FROM seen_ids WHERE h IN (SELECT h FROM seen_ids ORDER BY at DESC "
                             "LIMIT -1 OFFSET ?)", (max(0, keep - total),))

    def journal_put(self, sealed: int, seq: int, instance: int, hashes: bytes, positions: str) -> None:
        with self._guard():
            self._db.execute("INSERT OR REPLACE INTO journal VALUES (?, ?, ?, ?, ?)",
                             (sealed, seq, str(instance), hashes, positions))

    def journal_renumber(self, sealed: int, seq: int, instance: int) -> None:
        with self._guard():
            self._db.execute("UPDATE journal SET seq = ?, instance = ? WHERE sealed = ?", (seq, str(instance), sealed))

    def journal_clear(self, up_to: int | None = None) -> None:
        """Drops the rows of batches sealed up to `up_to` records (all rows without it)."""
        with self._guard():
            if up_to is None:
                self._db.execute("DELETE FROM journal")
            else:
                self._db.execute("DELETE FROM journal WHERE sealed <= ?", (up_to,))

    def journal_rows(self) -> list[tuple[int, int, bytes, str]]:
        """(seq, instance, hashes, positions) of every journalled batch, in sealing order."""
        with self._guard():
            rows = self._db.execute("SELECT seq, instance, hashes, positions FROM journal ORDER BY sealed").fetchall()
        return [(int(r[0]), int(r[1]), bytes(r[2]), str(r[3])) for r in rows]

    def complete_names(self) -> set[str]:
        with self._guard():
            return {r[0] for r in self._db.execute("SELECT name FROM files WHERE complete = 1")}

    def close(self) -> None:
        self._db.close()
