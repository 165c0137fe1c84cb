"""How far each input file is safely in Falco, in SQLite; advanced only on plugin ACKs."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bridge.errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    name     TEXT PRIMARY KEY,
    done     INTEGER NOT NULL,  -- items of the file (records and bad items, in read order) handled
    complete INTEGER NOT NULL,  -- 1 once every item is handled: the file is never read again
    updated  REAL NOT NULL
)
"""


class Checkpoints:
    def __init__(self, path: str | Path) -> None:
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as e:
            raise ConfigError(f"checkpoint database {str(path)!r}: {e}") from None

    def position(self, name: str) -> tuple[int, bool]:
        """(items already handled, whether the file is complete); (0, False) for a new file."""
        row = self._db.execute("SELECT done, complete FROM files WHERE name = ?", (name,)).fetchone()
        return (int(row[0]), bool(row[1])) if row else (0, False)

    def advance(self, name: str, done: int, complete: bool = False) -> None:
        """Record progress; never moves backwards (ACKs may be reported late, never early)."""
        self._db.execute(
            "INSERT INTO files (name, done, complete, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET done = max(done, excluded.done), "
            "complete = max(complete, excluded.complete), updated = excluded.updated",
            (name, done, int(complete), time.time()),
        )

    def complete_names(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT name FROM files WHERE complete = 1")}

    def close(self) -> None:
        self._db.close()
