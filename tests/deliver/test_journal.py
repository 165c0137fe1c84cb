"""The write-ahead journal of sealed batches (bridge/deliver/journal.py) against a real SQLite file;
end to end with the real plugin and a SIGKILLed bridge: tests/faults/test_source_faults.py
(test_sigkill_*) and tests/regressions/test_run_dedup_checkpoints.py."""

from __future__ import annotations

from pathlib import Path

from bridge.deliver.checkpoints import Checkpoints
from bridge.deliver.journal import Journal

BIG = 2**64 - 5  # instance ids are u64: stored beyond SQLite's signed range


def _sealed_three(cp: Checkpoints) -> Journal:
    j = Journal(cp)
    # Batch 1: records 1-2 of a.json (items 1..3, item 2 a skipped repeat); batch 2: a.json done +
    # an SQS record without a checkpoint; batch 3: b.json's first record.
    j.note(1, "a.json", 1, False, 11)
    j.note(1, "a.json", 2, False, 0)
    j.note(2, "a.json", 3, False, 12)
    j.on_seal(7, BIG, 2)
    j.note(3, "a.json", 4, False, 13)
    j.note(3, "a.json", 4, True, 0)
    j.note(4, "", 1, False, 14)
    j.on_seal(8, BIG, 4)
    j.note(5, "b.json", 1, False, 15)
    j.on_seal(9, BIG, 5)
    return j


def test_recover_commits_what_the_same_plugin_holds_and_drops_the_rest(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    _sealed_three(cp)
    cp.close()
    cp = Checkpoints(tmp_path / "s.db")  # a new process
    assert Journal(cp).recover(BIG, 8) == (2, 1)
    assert cp.position("a.json") == (4, True)
    assert cp.position("b.json") == (0, False)  # batch 9 not received: b.json is read again
    assert sorted(cp.seen_since(0, 100)) == [11, 12, 13, 14]
    assert cp.journal_rows() == []


def test_a_new_plugin_instance_commits_nothing(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    _sealed_three(cp)
    assert Journal(cp).recover(BIG - 1, 100) == (0, 3)
    assert cp.position("a.json") == (0, False) and cp.seen_since(0, 100) == []


def test_ack_clears_rows_and_renumbering_moves_them_to_the_new_instance(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    j = _sealed_three(cp)
    j.acked(2)
    assert [r[0] for r in cp.journal_rows()] == [8, 9]
    j.on_seal(1, 3, 4)  # a restarted plugin (instance 3) got batches 8 and 9 as 1 and 2
    j.on_seal(2, 3, 5)
    assert [(r[0], r[1]) for r in cp.journal_rows()] == [(1, 3), (2, 3)]
    assert Journal(cp).recover(3, 2) == (2, 0)
    assert cp.position("b.json") == (1, False)


def test_a_refused_record_is_taken_back(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    j = Journal(cp)
    j.note(1, "a.json", 1, False, 11)
    j.note(2, "a.json", 2, False, 12)
    j.unnote()  # record 2 refused (too big): quarantined instead
    j.note(1, "a.json", 2, False, 0)
    j.on_seal(1, 5, 1)
    assert Journal(cp).recover(5, 1) == (1, 0)
    assert cp.position("a.json") == (2, False) and cp.seen_since(0, 10) == [11]


def test_a_run_cut_by_batches_journals_exact_positions_and_hashes(tmp_path: Path) -> None:
    cp = Checkpoints(tmp_path / "s.db")
    j = Journal(cp)
    # Items 1..6 of f.gz as one run: items 2 and 3 (indexes 1, 2) are repeats, the other four
    # records are sent as records 1..4 with keys 21, 24, 25, 26.
    j.note_run(0, "f.gz", 0, 6, [1, 2], [21, 24, 25, 26])
    j.on_seal(1, 9, 1)  # batch 1: record 1 (item 1)
    j.on_seal(2, 9, 2)  # batch 2: record 2 (item 4, after the two repeats)
    j.on_seal(3, 9, 4)  # batch 3: records 3 and 4 (items 5 and 6): the run is done
    rows = cp.journal_rows()
    assert [(r[0], r[3]) for r in rows] == [(1, '{"f.gz": [1, false]}'), (2, '{"f.gz": [4, false]}'),
                                           (3, '{"f.gz": [6, false]}')]
    assert Journal(cp).recover(9, 2) == (2, 1)
    assert cp.position("f.gz") == (4, False) and sorted(cp.seen_since(0, 10)) == [21, 24]
