"""bridge/deliver/checkpoints.py behaviour that make mutation left unchecked: cursors, transactions
all or nothing, SQLite errors as DeliveryError, the legacy seen_ids rows, and the limits of
seen_since / prune_seen."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bridge.deliver.checkpoints import Checkpoints
from bridge.errors import ConfigError, DeliveryError


def test_cursors_round_trip_and_overwrite(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    assert cp.cursor("s3:bucket") is None
    cp.set_cursor("s3:bucket", "2026-11-30T00:00:00Z")
    cp.set_cursor("s3:bucket", "2026-11-30T01:00:00Z")
    cp.set_cursor("logs:group", "token-1")
    cp.close()
    cp = Checkpoints(tmp_path / "s.db")
    assert cp.cursor("s3:bucket") == "2026-11-30T01:00:00Z" and cp.cursor("logs:group") == "token-1"


def test_is_complete(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    assert not cp.is_complete("a")
    cp.advance("a", 3)
    assert not cp.is_complete("a")
    cp.advance("a", 5, complete=True)
    assert cp.is_complete("a") and cp.position("a") == (5, True)


def test_a_transaction_is_all_or_nothing(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    with pytest.raises(RuntimeError):
        with cp.transaction():
            cp.advance("a", 1)
            cp.add_seen([7], 1.0)
            raise RuntimeError("ACK handling failed")
    assert cp.position("a") == (0, False) and cp.seen_since(0, 10) == []
    with cp.transaction():
        cp.advance("a", 2)
        cp.add_seen([8], 1.0)
    cp.close()
    cp = Checkpoints(tmp_path / "s.db")
    assert cp.position("a") == (2, False) and cp.seen_since(0, 10) == [8]


def test_sqlite_errors_are_delivery_errors_naming_the_database(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    cp = Checkpoints(db)
    cp._db.execute("DROP TABLE files")  # a damaged database
    with pytest.raises(DeliveryError) as exc:
        cp.advance("a", 1)
    assert str(exc.value).startswith(f"checkpoint database {str(db)!r}: no such table: files")
    with pytest.raises(DeliveryError, match="no such table"):
        cp.position("a")
    with pytest.raises(ConfigError) as cexc:
        Checkpoints(tmp_path / "missing" / "s.db")
    assert str(cexc.value).startswith(f"checkpoint database {str(tmp_path / 'missing' / 's.db')!r}: ")


def test_legacy_seen_ids_rows_are_read_before_the_runs_and_pruned(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    Checkpoints(db).close()
    with sqlite3.connect(db) as raw:  # rows an older bridge wrote, one per eventID
        raw.executemany("INSERT INTO seen_ids (h, at) VALUES (?, ?)", [(11, 10.0), (12, 20.0), (13, 30.0)])
    cp = Checkpoints(db)
    cp.add_seen([21, 22], 40.0)
    assert cp.seen_since(0, 100) == [11, 12, 13, 21, 22]
    assert cp.seen_since(15, 100) == [12, 13, 21, 22]
    assert cp.seen_since(0, 3) == [13, 21, 22]
    assert cp.seen_since(0, 2) == [21, 22]
    assert cp.seen_since(0, 0) == [] and cp.seen_since(0, -1) == []
    cp.prune_seen(15, 100)  # by age
    assert cp.seen_since(0, 100) == [12, 13, 21, 22]
    cp.prune_seen(0, 3)  # by count: the runs first, then the newest legacy rows
    assert cp.seen_since(0, 100) == [13, 21, 22]
    cp.prune_seen(0, 2)
    assert cp.seen_since(0, 100) == [21, 22]


def test_prune_keeps_the_run_that_reaches_keep_whole(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    cp.add_seen([1, 2], 1.0)
    cp.add_seen([3, 4, 5], 2.0)
    cp.add_seen([6], 3.0)
    cp.prune_seen(0, 2)  # [6] holds 1, [3, 4, 5] reaches 2: kept whole; [1, 2] goes
    assert cp.seen_since(0, 100) == [3, 4, 5, 6]
    cp.prune_seen(0, 1)
    assert cp.seen_since(0, 100) == [6]
    cp.add_seen([7], 3.0)  # same time: the later row is the newer
    assert cp.seen_since(0, 1) == [7]


def test_prune_counts_every_newer_run() -> None:
    cp = Checkpoints(":memory:")
    for h, at in ((1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)):
        cp.add_seen([h], at)
    cp.prune_seen(0, 2)
    assert cp.seen_since(0, 100) == [3, 4]


def test_usable_from_another_thread() -> None:
    # The daemon advances checkpoints on its ACK thread, not the one that opened them.
    cp = Checkpoints(":memory:")
    errors: list[BaseException] = []

    def ack() -> None:
        try:
            cp.advance("a", 5)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    t = threading.Thread(target=ack)
    t.start()
    t.join()
    assert errors == [] and cp.position("a") == (5, False)
