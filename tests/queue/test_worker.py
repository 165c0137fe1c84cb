"""The delivery worker against a real local HTTP server: accept, retry (Retry-After, backoff), dead-letter."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sinks.alerts import cloud
from sinks.recorder import Answer, Recorder, Request

from bridge.queue.worker import backoff
from bridge.route.forwarder import Forwarder, build_forwarder
from bridge.route.ident import alert_id


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def forwarder(tmp_path: Path, url: str, start: bool = True, **extra: Any) -> Forwarder:
    dest = {"name": "hook", "type": "webhook", "url": url, "backoff_base": 0.05, "backoff_max": 0.2, **extra}
    fwd = build_forwarder({"destinations": [dest], "queue": {"dir": str(tmp_path / "q")},
                            "sources": [{"ignored": True}], "falco": {}, "enrich": {}})
    return fwd.start() if start else fwd


def test_retry_after_is_honoured_then_delivered_once_in_order(tmp_path: Path) -> None:
    calls: list[float] = []

    def answer(r: Request) -> Answer:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return 429, {"Retry-After": "1"}, b"slow down"
        if len(calls) == 2:
            return 503, {}, b""
        return 200, {}, b"ok"

    rec = Recorder(answer)
    fwd = forwarder(tmp_path, rec.url)
    try:
        for i in range(3):
            fwd.handle(cloud(i))
        assert wait_for(lambda: len(rec.accepted) == 3)
        assert calls[1] - calls[0] >= 0.95  # waited for Retry-After, not the 0.05 s backoff
        assert [r.json()["id"] for r in rec.accepted] == [alert_id(cloud(i)) for i in range(3)]
        assert wait_for(lambda: fwd.stores["hook"].depth() == 0) and fwd.stores["hook"].dead_count() == 0
    finally:
        fwd.close()
        rec.close()


def test_permanent_4xx_goes_to_the_dead_letter_store_with_the_reason(tmp_path: Path) -> None:
    rec = Recorder(lambda r: (400, {}, b"bad payload") if b"-0001" in r.body else (200, {}, b""))
    fwd = forwarder(tmp_path, rec.url)
    try:
        for i in range(3):
            fwd.handle(cloud(i))
        assert wait_for(lambda: len(rec.accepted) == 2 and fwd.stores["hook"].dead_count() == 1)
        (dead,) = fwd.stores["hook"].dead_list()
        assert dead.id == alert_id(cloud(1)) and "HTTP 400: bad payload" in dead.reason
    finally:
        fwd.close()
        rec.close()


def test_batches_fill_up_to_max_events(tmp_path: Path) -> None:
    rec = Recorder()
    fwd = forwarder(tmp_path, rec.url, start=False, batch={"max_events": 5, "interval": 0.5})
    try:
        for i in range(10):
            fwd.handle(cloud(i))
        fwd.start()
        assert wait_for(lambda: sum(len(r.json()) for r in rec.accepted) == 10)
        assert all(isinstance(r.json(), list) for r in rec.accepted) and len(rec.accepted) == 2
    finally:
        fwd.close()
        rec.close()


def test_dedup_window_per_destination(tmp_path: Path) -> None:
    rec = Recorder()
    fwd = forwarder(tmp_path, rec.url, dedup_window=60)
    try:
        for _ in range(3):
            fwd.handle(cloud(7))
        fwd.handle(cloud(8))
        assert wait_for(lambda: len(rec.accepted) == 2)
        time.sleep(0.2)
        assert len(rec.accepted) == 2
    finally:
        fwd.close()
        rec.close()


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    for attempt, lo, hi in [(1, 0.5, 1.0), (2, 1.0, 2.0), (4, 4.0, 8.0), (20, 150.0, 300.0)]:
        d = backoff(attempt, 1.0, 300.0)
        assert lo <= d <= hi


def test_metrics_and_readiness_per_destination(tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    from bridge.telemetry.health import Readiness

    def value(name: str, dest: str) -> float:
        return REGISTRY.get_sample_value(name, {"destination": dest}) or 0.0

    calls: list[int] = []

    def answer(r: Request) -> Answer:
        if b"-0002" in r.body:
            return 400, {}, b"no"  # permanent: dead-lettered
        calls.append(1)
        return (503, {}, b"") if len(calls) <= 2 else (200, {}, b"")  # two retries first

    rec = Recorder(answer)
    ready = Readiness()
    dest = {"name": "metered", "type": "webhook", "url": rec.url, "backoff_base": 0.05, "backoff_max": 0.1,
            "queue": {"max_depth": 3}}
    fwd = build_forwarder({"destinations": [dest], "queue": {"dir": str(tmp_path / "q")}}, ready)
    before = {m: value(m, "metered") for m in ("ctbridge_forward_sent_total", "ctbridge_forward_retried_total",
                                               "ctbridge_forward_dead_lettered_total")}
    for i in range(3):
        fwd.handle(cloud(i))
    assert not fwd.stores["metered"].has_room()
    fwd.start()
    try:
        ok, lines = ready.status()
        assert wait_for(lambda: fwd.stores["metered"].depth() == 0)
        ok, lines = ready.status()
        assert ok and any(line.startswith("ok destination metered: 0 queued") for line in lines)
        assert value("ctbridge_forward_sent_total", "metered") - before["ctbridge_forward_sent_total"] == 2
        assert value("ctbridge_forward_retried_total", "metered") - before["ctbridge_forward_retried_total"] == 2
        assert value("ctbridge_forward_dead_lettered_total", "metered") - before[
            "ctbridge_forward_dead_lettered_total"] == 1
        assert value("ctbridge_forward_latency_seconds_count", "metered") >= 2
        assert REGISTRY.get_sample_value("ctbridge_forward_queue_depth", {"destination": "metered"}) == 0
    finally:
        fwd.close()
        rec.close()
    assert not any("metered" in line for line in ready.status()[1])  # checks removed on close


def test_full_queue_makes_readyz_fail(tmp_path: Path) -> None:
    from bridge.telemetry.health import Readiness

    ready = Readiness()
    fwd = build_forwarder({"destinations": [{"name": "full", "type": "webhook", "url": "http://127.0.0.1:9/",
                                             "queue": {"max_depth": 1}}], "queue": {"dir": str(tmp_path)}}, ready)
    fwd.handle(cloud(1))
    fwd.start()
    try:
        ok, lines = ready.status()
        assert not ok and any(line.startswith("FAIL destination full: queue full") for line in lines)
    finally:
        fwd.close()


def test_partial_batch_failure_retries_and_dead_letters_per_item(tmp_path: Path) -> None:
    import orjson

    seen: list[list[str]] = []

    def answer(r: Request) -> Answer:  # Elasticsearch _bulk: per-item statuses
        docs = [orjson.loads(x) for x in r.body.splitlines()[1::2]]
        seen.append([d["id"] for d in docs])
        items = []
        for d in docs:
            n = d["output_fields"]["evt.time"] % 10
            status = 400 if n == 1 else 429 if (n == 2 and len(seen) == 1) else 201
            result: dict[str, object] = {"status": status}
            if status >= 300:
                result["error"] = {"type": "x"}
            items.append({"index": result})
        return 200, {}, orjson.dumps({"errors": True, "items": items})

    rec = Recorder(answer)
    dest = {"name": "es", "type": "elasticsearch", "url": rec.url, "batch": {"max_events": 4, "interval": 0.2},
            "backoff_base": 0.05, "backoff_max": 0.1}
    fwd = build_forwarder({"destinations": [dest], "queue": {"dir": str(tmp_path / "q")}})
    try:
        for i in range(4):
            fwd.handle(cloud(i))
        fwd.start()  # all four queued first: they go out as one batch
        assert wait_for(lambda: fwd.stores["es"].depth() == 0)
        ids = [alert_id(cloud(i)) for i in range(4)]
        assert seen == [ids, [ids[2]]]  # only the 429 item is sent again
        (dead,) = fwd.stores["es"].dead_list()
        assert dead.id == ids[1] and dead.reason.startswith("400")
    finally:
        fwd.close()
        rec.close()


def test_token_bucket_paces_after_the_burst() -> None:
    from bridge.queue.worker import TokenBucket

    b = TokenBucket(2.0)  # 2 alerts/s, burst 2
    assert b.delay(1) == 0.0 and b.delay(1) == 0.0
    assert 0.0 < b.delay(1) <= 0.5  # the third waits (about half a second, less if time passed)
    assert b.delay(4) > 1.5  # four more at 2/s: about two seconds further
    assert TokenBucket(0).delay(1000) == 0.0  # 0 = unlimited


def test_first_alert_after_idle_waits_for_the_batch_to_fill(tmp_path: Path) -> None:
    rec = Recorder()
    fwd = forwarder(tmp_path, rec.url, batch={"max_events": 3, "interval": 1.0})
    try:
        time.sleep(0.2)  # the worker is idle, waiting for alerts
        for i in range(3):
            fwd.handle(cloud(i))
        assert wait_for(lambda: len(rec.accepted) >= 1)
        time.sleep(0.1)
        assert [len(r.json()) for r in rec.accepted] == [3]
    finally:
        fwd.close()
        rec.close()


def test_dlq_retry_from_another_connection_is_picked_up_by_a_running_worker(tmp_path: Path) -> None:
    from bridge.queue.store import Store

    fixed = {"on": False}
    rec = Recorder(lambda r: (200, {}, b"") if fixed["on"] else (404, {}, b"no such hook"))
    fwd = forwarder(tmp_path, rec.url)
    try:
        fwd.handle(cloud(1))
        assert wait_for(lambda: fwd.stores["hook"].dead_count() == 1)
        fixed["on"] = True  # the operator fixed the URL, then runs `ctbridge dlq retry hook --all`
        other = Store(tmp_path / "q" / "hook" / "queue.db")  # as the dlq command opens it
        assert other.dead_retry() == 1
        other.close()
        assert wait_for(lambda: len(rec.accepted) == 1)
        assert rec.accepted[0].headers["x-ctbridge-alert-id"] == alert_id(cloud(1))
    finally:
        fwd.close()
        rec.close()
