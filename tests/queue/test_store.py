"""The per-destination SQLite queue: order, ack, dead letters, dedup, bounds, and survival of a restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bridge.queue.store import QueueFull, Store
from bridge.sinks._base import QueueLimits


def test_fifo_ack_and_reopen(tmp_path: Path) -> None:
    p = tmp_path / "d" / "queue.db"
    s = Store(p)
    for i in range(5):
        assert s.put(f"id{i}", b"%d" % i)
    items = s.peek(3)
    assert [i.body for i in items] == [b"0", b"1", b"2"]
    s.ack(items[:2])
    assert s.depth() == 3
    s.close()
    s = Store(p)  # what was queued and not acked is still there, in order
    assert s.depth() == 3 and [i.id for i in s.peek(10)] == ["id2", "id3", "id4"]
    assert s.path.parent.name == "d"
    assert (tmp_path / "d" / "queue.db-wal").exists() or s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_dead_letters_keep_reason_and_can_be_retried_or_purged(tmp_path: Path) -> None:
    s = Store(tmp_path / "queue.db")
    for i in range(3):
        s.put(f"id{i}", b"x")
    a, b, c = s.peek(3)
    s.dead([(a, "HTTP 400: bad"), (b, "HTTP 404")])
    assert s.depth() == 1 and s.dead_count() == 2
    d = s.dead_list()
    assert [(x.id, x.reason) for x in d] == [("id0", "HTTP 400: bad"), ("id1", "HTTP 404")]
    assert s.dead_retry([d[0].seq]) == 1
    assert [i.id for i in s.peek(5)] == ["id2", "id0"]  # retried alerts go to the end
    assert s.dead_purge() == 1 and s.dead_count() == 0


def test_dedup_window(tmp_path: Path) -> None:
    s = Store(tmp_path / "queue.db", dedup_window=0.3)
    assert s.put("same", b"1") and not s.put("same", b"1")
    assert s.deduplicated == 1 and s.depth() == 1
    time.sleep(0.35)
    assert s.put("same", b"1") and s.depth() == 2


def test_block_policy_refuses_when_full(tmp_path: Path) -> None:
    s = Store(tmp_path / "queue.db", QueueLimits(max_depth=2, policy="block"))
    s.put("a", b"")
    s.put("b", b"")
    assert not s.has_room()
    with pytest.raises(QueueFull):
        s.put("c", b"")
    s.ack(s.peek(1))
    assert s.put("c", b"") and s.depth() == 2


def test_block_policy_on_age(tmp_path: Path) -> None:
    s = Store(tmp_path / "queue.db", QueueLimits(max_age=0.1, policy="block"))
    s.put("a", b"")
    time.sleep(0.15)
    with pytest.raises(QueueFull):
        s.put("b", b"")


def test_drop_oldest_policy_counts(tmp_path: Path) -> None:
    s = Store(tmp_path / "queue.db", QueueLimits(max_depth=3, policy="drop_oldest"))
    for i in range(5):
        s.put(f"id{i}", b"")
    assert s.depth() == 3 and s.dropped == 2
    assert [i.id for i in s.peek(5)] == ["id2", "id3", "id4"]


def test_concurrent_puts_are_group_committed_and_all_durable(tmp_path: Path) -> None:
    import threading

    s = Store(tmp_path / "queue.db", dedup_window=60)
    results: list[bool] = []
    lock = threading.Lock()

    def put(k: int) -> None:
        for i in range(200):
            ok = s.put(f"id{i}" if k < 2 else f"t{k}-{i}", b"x")  # threads 0 and 1 send the same ids
            with lock:
                results.append(ok)

    ts = [threading.Thread(target=put, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results.count(True) == 200 * 7 and s.deduplicated == 200
    assert s.depth() == 1400
    s.close()
    s = Store(tmp_path / "queue.db")
    items = s.peek(5000)
    assert len(items) == 1400 and len({i.id for i in items}) == 1400 and s.depth() == 1400


def test_failed_commit_raises_in_every_put(tmp_path: Path) -> None:
    s = Store(tmp_path / "queue.db")
    s._db.execute("DROP TABLE queue")  # the next transaction fails
    with pytest.raises(Exception, match="no such table"):
        s.put("a", b"")
    assert s.depth() == 0


def test_ack_of_a_partial_batch_keeps_the_rest(tmp_path: Path) -> None:
    s = Store(tmp_path / "queue.db")
    for i in range(5):
        s.put(f"id{i}", b"")
    a, b, c, d, e = s.peek(5)
    s.ack([a, c, e])  # b and d failed and stay queued
    assert [i.id for i in s.peek(5)] == ["id1", "id3"] and s.depth() == 2
    s.ack([b, d])
    assert s.peek(5) == [] and s.depth() == 0


def test_put_many_is_one_transaction_with_a_result_per_alert(tmp_path: Path) -> None:
    # max_depth 4: a duplicate holds its place until the transaction finds it out
    s = Store(tmp_path / "queue.db", QueueLimits(max_depth=4), dedup_window=60)
    assert s.put("a", b"0")
    commits = []
    s._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    results = s.put_many([("b", b"1"), ("a", b"dup"), ("c", b"2"), ("d", b"3")])
    assert results[:3] == [True, False, True]  # queued, duplicate within the window, queued
    assert isinstance(results[3], QueueFull)  # over max_depth: this one only is refused
    assert commits == ["COMMIT"]
    assert s.depth() == 3 and [i.id for i in s.peek(10)] == ["a", "b", "c"]
    s.close()
