"""Journal.on_seal's walk over notes and runs at a batch boundary, and recover() on an empty
journal: what make mutation left unchecked in bridge/deliver/journal.py (docs/reliability.md).
Real SQLite (Checkpoints); the journal rows are read back as the restarted bridge would."""

from __future__ import annotations

import json
from array import array
from pathlib import Path

import pytest

from bridge.deliver.checkpoints import Checkpoints
from bridge.deliver.journal import Journal

pytestmark = pytest.mark.timeout(20)  # a walk that never leaves its head entry hangs: a failure


def _rows(cp: Checkpoints) -> list[tuple[int, list[int], dict[str, list[object]]]]:
    out = []
    for seq, _inst, blob, positions in cp.journal_rows():
        hashes = array("q")
        hashes.frombytes(blob)
        out.append((seq, hashes.tolist(), json.loads(positions)))
    return out


def test_recover_with_nothing_journalled_commits_and_drops_nothing(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    assert Journal(cp).recover(7, 100) == (0, 0)


def test_a_run_of_repeats_only_at_the_boundary_goes_into_the_batch_that_ends_there(tmp_path: Path) -> None:
    """Items 1-3 of r.json were all dropped as repeats after record 2 was sent: batch 1 (records
    1-2) covers them, so its row moves r.json to item 3."""
    cp = Checkpoints(tmp_path / "s.db")
    j = Journal(cp)
    j.note(1, "a.json", 1, False, 11)
    j.note(2, "a.json", 2, True, 12)
    j.note_run(2, "r.json", 0, 3, [0, 1, 2], [])
    j.on_seal(1, 9, 2)
    assert _rows(cp) == [(1, [11, 12], {"a.json": [2, True], "r.json": [3, False]})]


def test_a_whole_run_then_a_note_in_the_same_batch(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    j = Journal(cp)
    j.note_run(0, "p.json", 0, 2, [], [21, 22])
    j.note(3, "q.json", 1, True, 23)
    j.on_seal(1, 9, 3)
    assert _rows(cp) == [(1, [21, 22, 23], {"p.json": [2, False], "q.json": [1, True]})]


def test_notes_and_runs_after_the_boundary_wait_for_their_own_batch(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    j = Journal(cp)
    j.note(1, "a.json", 1, False, 11)
    j.note_run(1, "b.json", 0, 2, [], [31, 32])  # records 2-3: after batch 1 (record 1)
    j.on_seal(1, 9, 1)
    j.note(4, "c.json", 1, True, 41)  # record 4: after batch 2 (records 2-3)
    j.on_seal(2, 9, 3)
    j.on_seal(3, 9, 4)
    assert _rows(cp) == [
        (1, [11], {"a.json": [1, False]}),
        (2, [31, 32], {"b.json": [2, False]}),
        (3, [41], {"c.json": [1, True]}),
    ]
