"""SQLite checkpoints: progress only moves forward and survives a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.deliver.checkpoints import Checkpoints
from bridge.errors import ConfigError


def test_new_file_starts_at_zero(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    assert cp.position("a.json.gz") == (0, False)
    assert cp.complete_names() == set()


def test_progress_never_moves_backwards_and_survives_reopen(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    cp = Checkpoints(db)
    cp.advance("a", 10)
    cp.advance("a", 4)  # a late, smaller report must not undo progress
    assert cp.position("a") == (10, False)
    cp.advance("a", 12, complete=True)
    cp.advance("a", 12, complete=False)
    cp.advance("b", 3)
    cp.close()
    again = Checkpoints(db)
    assert again.position("a") == (12, True)
    assert again.position("b") == (3, False)
    assert again.complete_names() == {"a"}


def test_unusable_database_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="checkpoint database"):
        Checkpoints(tmp_path / "missing-dir" / "s.db")


def test_seen_ids_are_stored_per_ack_reloaded_newest_first_and_pruned(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    cp.add_seen([1, 2, 3], 100.0)
    cp.add_seen([4, 5], 200.0)
    cp.add_seen([], 250.0)
    cp.add_seen([6], 300.0)
    cp.close()
    cp = Checkpoints(tmp_path / "s.db")  # a restart reads them back
    assert cp.seen_since(0, 100) == [1, 2, 3, 4, 5, 6]
    assert cp.seen_since(150, 100) == [4, 5, 6]  # the window
    assert cp.seen_since(0, 4) == [3, 4, 5, 6]  # the newest `limit`, oldest first
    cp.prune_seen(150, 100)
    assert cp.seen_since(0, 100) == [4, 5, 6]
    cp.prune_seen(0, 1)  # keeps the newest run that reaches 1 ID
    assert cp.seen_since(0, 100) == [6]
