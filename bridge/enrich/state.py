"""The enricher's memory: bounded (least recently used entries go first) and saved in SQLite."""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class PrincipalState:
    # counter name -> (timestamp seconds, weight) within the counter's window
    counts: dict[str, deque[tuple[float, int]]] = field(default_factory=dict)
    # sequence name -> (steps done, time of the first step)
    seqs: dict[str, tuple[int, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"c": {k: list(v) for k, v in self.counts.items()}, "s": self.seqs}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PrincipalState:
        st = cls()
        st.counts = {k: deque((float(t), int(w)) for t, w in v) for k, v in d.get("c", {}).items()}
        st.seqs = {k: (int(v[0]), float(v[1])) for k, v in d.get("s", {}).items()}
        return st


class State:
    """Principals (LRU, at most max_principals) and first-seen sets (LRU, max_keys each)."""

    def __init__(self, max_principals: int, max_keys: int) -> None:
        self.max_principals, self.max_keys = max_principals, max_keys
        self.principals: OrderedDict[str, PrincipalState] = OrderedDict()
        self.sets: dict[str, OrderedDict[str, None]] = {}

    def principal(self, key: str) -> PrincipalState:
        st = self.principals.get(key)
        if st is None:
            st = self.principals[key] = PrincipalState()
            if len(self.principals) > self.max_principals:
                self.principals.popitem(last=False)
        else:
            self.principals.move_to_end(key)
        return st

    def first(self, set_name: str, key: str) -> bool:
        """True when `key` is new to the set; remembers it either way."""
        s = self.sets.setdefault(set_name, OrderedDict())
        if key in s:
            s.move_to_end(key)
            return False
        s[key] = None
        if len(s) > self.max_keys:
            s.popitem(last=False)
        return True

    def save(self, path: Path) -> None:
        blob = {
            "principals": [[k, v.to_json()] for k, v in self.principals.items()],
            "sets": {k: list(v) for k, v in self.sets.items()},
        }
        db = sqlite3.connect(path)
        try:
            with db:  # one transaction: a crash leaves the previous state intact
                db.execute("CREATE TABLE IF NOT EXISTS enrich_state (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
                db.execute("INSERT OR REPLACE INTO enrich_state (k, v) VALUES ('state', ?)", (json.dumps(blob),))
        finally:
            db.close()

    def load(self, path: Path) -> bool:
        if not path.exists():
            return False
        db = sqlite3.connect(path)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS enrich_state (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            row = db.execute("SELECT v FROM enrich_state WHERE k = 'state'").fetchone()
        finally:
            db.close()
        if row is None:
            return False
        blob = json.loads(row[0])
        for k, v in blob.get("principals", []):
            self.principals[k] = PrincipalState.from_json(v)
        for name, keys in blob.get("sets", {}).items():
            self.sets[name] = OrderedDict((k, None) for k in keys)
        while len(self.principals) > self.max_principals:
            self.principals.popitem(last=False)
        return True
