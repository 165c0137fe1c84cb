"""One destination's durable queue: SQLite in WAL mode, `<queue dir>/<destination>/queue.db`.

An alert is in the queue from the moment `put` returns (the intake's 200 waits for that) until
the destination accepts it (`ack`) or refuses it for good (`dead`, kept with the reason in the
same file's dead-letter table). Order is the insertion order (seq).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import DeliveryError
from bridge.sinks._base import QueueLimits

log = logging.getLogger("ctbridge.queue")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,
                                  enqueued REAL NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS dead (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,
                                 enqueued REAL NOT NULL, failed REAL NOT NULL, reason TEXT NOT NULL,
                                 body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, at REAL NOT NULL);
"""


class QueueFull(DeliveryError):
    """The destination's queue is at its bound and its policy is to push back (HTTP 503), or its
    storage cannot take the alert now (disk full): either way the alert is not stored."""


@dataclass(frozen=True, slots=True)
class Item:
    seq: int
    id: str
    enqueued: float
    body: bytes


@dataclass(frozen=True, slots=True)
class DeadItem:
    seq: int
    id: str
    enqueued: float
    failed: float
    reason: str
    body: bytes


class _Put:
    __slots__ = ("id", "at", "body", "done", "queued", "error")

    def __init__(self, alert_id: str, at: float, body: bytes) -> None:
        self.id, self.at, self.body = alert_id, at, body
        self.done = False
        self.queued = True
        self.error: BaseException | None = None


class Store:
    """Thread-safe. Lock order: `_db_lock` (the connection) before `_lock` (counters, pending puts).

    Puts are group-committed: concurrent intake threads hand their alert to whichever of them is
    committing, which writes all waiting alerts in one transaction; each put still returns only
    after the transaction holding its alert has committed.
    """

    def __init__(self, path: Path, limits: QueueLimits = QueueLimits(), dedup_window: float = 0.0,
                 fsync: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.limits = limits
        self.dedup_window = dedup_window
        self.dropped = 0
        self.deduplicated = 0
        self._db_lock = threading.Lock()
        self._lock = threading.Lock()
        self.available = threading.Condition(self._lock)
        self._committed = threading.Condition(self._lock)
        self._pending: list[_Put] = []
        self._inflight = 0  # puts counted in _depth but not yet committed
        self._leader = False
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL survives a killed process; FULL also survives power loss, at an fsync per commit.
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        self._depth = int(self._db.execute("SELECT count(*) FROM queue").fetchone()[0])
        self._puts = 0

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (caller holds _db_lock). On failure it is rolled back only if
        SQLite has not ended it itself (a full disk does), so the real error is what surfaces."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    log.warning("queue %s: rollback failed", self.path, exc_info=True)
            raise

    # --- intake side -------------------------------------------------------------------------

    def has_room(self) -> bool:
        if self.limits.policy != "block":
            return True
        with self._lock:
            if self._depth >= self.limits.max_depth:
                return False
        if self.limits.max_age > 0:
            oldest = self.oldest_enqueued()
            if oldest is not None and time.time() - oldest > self.limits.max_age:
                return False
        return True

    def put(self, alert_id: str, body: bytes) -> bool:
        """Durably queue one alert; False if it is a duplicate within the dedup window.
        QueueFull under the block policy when the queue is at its bound."""
        (result,) = self.put_many([(alert_id, body)])
        if isinstance(result, BaseException):
            raise result
        return result

    def put_many(self, items: list[tuple[str, bytes]]) -> list[bool | BaseException]:
        """put() for several alerts in one transaction: per alert, True (queued), False (a
        duplicate) or the error that kept it out (QueueFull when the queue reached its bound)."""
        if self.limits.max_age > 0 and not self.has_room():
            full = QueueFull(f"queue {self.path.parent.name}: oldest alert older than {self.limits.max_age:.0f}s")
            return [full] * len(items)
        at = time.time()
        out: list[bool | BaseException] = []
        puts: list[_Put] = []
        with self._lock:
            for alert_id, body in items:
                if self.limits.policy == "block" and self._depth >= self.limits.max_depth:
                    out.append(QueueFull(f"queue {self.path.parent.name} is full ({self._depth} alerts)"))
                    continue
                p = _Put(alert_id, at, body)
                self._depth += 1  # provisional: taken back if it turns out a duplicate or fails
                self._inflight += 1
                self._pending.append(p)
                puts.append(p)
                out.append(True)
            # Appended under one hold of the lock, so they all land in the same transaction.
            while puts and not puts[-1].done:
                if self._leader:
                    self._committed.wait()
                    continue
                self._leader = True
                batch, self._pending = self._pending, []
                self._lock.release()
                try:
                    self._commit(batch)
                finally:
                    self._lock.acquire()
                    self._leader = False
                    self._committed.notify_all()
        results: list[bool | BaseException] = []
        it = iter(puts)
        for r in out:
            if isinstance(r, BaseException):
                results.append(r)
            else:
                p = next(it)
                results.append(p.error if p.error is not None else p.queued)
        return results

    def _commit(self, batch: list[_Put]) -> None:
        db = self._db
        dropped = 0
        error: BaseException | None = None
        with self._db_lock:
            try:
                with self._tx():
                    rows = self._dedup(batch) if self.dedup_window > 0 else batch
                    db.executemany("INSERT INTO queue(id, enqueued, body) VALUES (?, ?, ?)",
                                   [(p.id, p.at, p.body) for p in rows])
                    dropped = self._drop(len(rows))
            except sqlite3.Error as e:  # disk full, I/O error: each put of the batch refuses its alert
                error = QueueFull(f"queue {self.path}: cannot store alerts: {e}")
                dropped = 0
            except Exception as e:
                error = e
                dropped = 0
            with self._lock:
                for p in batch:
                    if error is not None:
                        p.error, p.queued = error, False
                    if not p.queued:
                        self._depth -= 1
                    p.done = True
                    self._inflight -= 1
                self._depth -= dropped
                self.dropped += dropped
                self.available.notify_all()

    def _dedup(self, batch: list[_Put]) -> list[_Put]:
        now = time.time()
        fresh: list[_Put] = []
        in_batch: set[str] = set()
        for p in batch:
            row = self._db.execute("SELECT at FROM seen WHERE id=?", (p.id,)).fetchone()
            if p.id in in_batch or (row is not None and now - row[0] < self.dedup_window):
                p.queued = False
                with self._lock:
                    self.deduplicated += 1
                continue
            in_batch.add(p.id)
            fresh.append(p)
        self._db.executemany("INSERT OR REPLACE INTO seen(id, at) VALUES (?, ?)", [(p.id, now) for p in fresh])
        self._puts += len(batch)
        if self._puts >= 1000:
            self._puts = 0
            self._db.execute("DELETE FROM seen WHERE at < ?", (now - self.dedup_window,))
        return fresh

    def _drop(self, added: int) -> int:
        """drop_oldest: delete what is over the bounds; how many were dropped (in this transaction)."""
        if self.limits.policy != "drop_oldest":
            return 0
        with self._lock:
            over = self._depth - self._inflight + added - self.limits.max_depth
        n = 0
        if over > 0:
            n += self._db.execute("DELETE FROM queue WHERE seq IN (SELECT seq FROM queue ORDER BY seq LIMIT ?)",
                                  (over,)).rowcount
        if self.limits.max_age > 0:
            n += self._db.execute("DELETE FROM queue WHERE enqueued < ?", (time.time() - self.limits.max_age,)).rowcount
        return n

    # --- worker side -------------------------------------------------------------------------

    def peek(self, n: int) -> list[Item]:
        with self._db_lock:
            rows = self._db.execute("SELECT seq, id, enqueued, body FROM queue ORDER BY seq LIMIT ?", (n,)).fetchall()
            if len(rows) < n:
                with self._lock:  # exact; also picks up `ctbridge dlq retry` run by another process
                    self._depth = len(rows) + self._inflight
        return [Item(*r) for r in rows]

    def wait(self, timeout: float) -> None:
        with self._lock:
            if self._depth == 0:
                self.available.wait(timeout)

    def ack(self, items: list[Item]) -> None:
        if not items:
            return
        seqs = [i.seq for i in items]
        with self._db_lock:
            with self._tx() as db:
                if seqs == sorted(seqs) and self._contiguous_locked(seqs):
                    # nothing else lies between the first and last seq: one range delete
                    n = db.execute("DELETE FROM queue WHERE seq BETWEEN ? AND ?", (seqs[0], seqs[-1])).rowcount
                else:
                    n = db.executemany("DELETE FROM queue WHERE seq=?", [(s,) for s in seqs]).rowcount
            with self._lock:
                self._depth -= n

    def _contiguous_locked(self, seqs: list[int]) -> bool:
        row = self._db.execute("SELECT count(*) FROM queue WHERE seq BETWEEN ? AND ?", (seqs[0], seqs[-1])).fetchone()
        return int(row[0]) == len(seqs)

    def oldest_enqueued(self) -> float | None:
        with self._db_lock:
            return self._oldest_locked()

    def dead(self, items: list[tuple[Item, str]]) -> None:
        """Move to the dead-letter table with the reason, in one transaction."""
        if not items:
            return
        now = time.time()
        with self._db_lock:
            with self._tx() as db:
                db.executemany("INSERT INTO dead(id, enqueued, failed, reason, body) VALUES (?, ?, ?, ?, ?)",
                               [(i.id, i.enqueued, now, reason[:2000], i.body) for i, reason in items])
                n = db.executemany("DELETE FROM queue WHERE seq=?", [(i.seq,) for i, _ in items]).rowcount
            with self._lock:
                self._depth -= n

    # --- inspection --------------------------------------------------------------------------

    def depth(self) -> int:
        with self._lock:
            return self._depth

    def _oldest_locked(self) -> float | None:
        row = self._db.execute("SELECT enqueued FROM queue ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else float(row[0])

    def oldest_age(self) -> float:
        with self._db_lock:
            oldest = self._oldest_locked()
        return 0.0 if oldest is None else max(0.0, time.time() - oldest)

    def dead_list(self, limit: int = 100) -> list[DeadItem]:
        with self._db_lock:
            rows = self._db.execute("SELECT seq, id, enqueued, failed, reason, body FROM dead ORDER BY seq LIMIT ?",
                                    (limit,)).fetchall()
        return [DeadItem(*r) for r in rows]

    def dead_count(self) -> int:
        with self._db_lock:
            return int(self._db.execute("SELECT count(*) FROM dead").fetchone()[0])

    def dead_get(self, seq: int) -> DeadItem | None:
        with self._db_lock:
            row = self._db.execute("SELECT seq, id, enqueued, failed, reason, body FROM dead WHERE seq=?",
                                   (seq,)).fetchone()
        return None if row is None else DeadItem(*row)

    def dead_retry(self, seqs: list[int] | None = None) -> int:
        """Put dead alerts back at the end of the queue (all when seqs is None); how many moved."""
        now = time.time()
        with self._db_lock:
            where, args = ("", ()) if seqs is None else (
                f"WHERE seq IN ({','.join('?' * len(seqs))})", tuple(seqs))
            with self._tx() as db:
                rows = db.execute(f"SELECT seq, id, body FROM dead {where} ORDER BY seq", args).fetchall()
                db.executemany("INSERT INTO queue(id, enqueued, body) VALUES (?, ?, ?)",
                               [(r[1], now, r[2]) for r in rows])
                db.executemany("DELETE FROM dead WHERE seq=?", [(r[0],) for r in rows])
            with self._lock:
                self._depth += len(rows)
                self.available.notify_all()
        return len(rows)

    def dead_purge(self, seqs: list[int] | None = None) -> int:
        with self._db_lock:
            if seqs is None:
                return int(self._db.execute("DELETE FROM dead").rowcount)
            return int(self._db.executemany("DELETE FROM dead WHERE seq=?", [(s,) for s in seqs]).rowcount)

    def close(self) -> None:
        with self._db_lock:
            self._db.close()
