"""ctbridge dlq list|show|retry|purge on a real queue directory."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sinks.alerts import cloud

from bridge.cli import main


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """main() points the root logger at this test's captured stderr; put it back afterwards."""
    handlers, level = logging.root.handlers[:], logging.root.level
    yield
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)
from bridge.queue.store import Store
from bridge.queue.worker import encode


def test_list_show_retry_purge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"queue: {{dir: {tmp_path / 'q'}}}\nfalco: {{socket: /x}}\n")
    s = Store(tmp_path / "q" / "slack" / "queue.db")
    for i in range(3):
        s.put(f"id{i}", encode(cloud(i)))
    items = s.peek(3)
    s.dead([(items[0], "slack: HTTP 404: no_service"), (items[1], "slack: HTTP 400: invalid_blocks")])
    s.close()

    assert main(["dlq", "list", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "slack: 2 dead-lettered, 1 queued" in out and "HTTP 404: no_service" in out

    assert main(["dlq", "show", "--config", str(cfg), "slack", "2"]) == 0
    shown = orjson.loads(capsys.readouterr().out)
    assert shown["reason"] == "slack: HTTP 400: invalid_blocks" and shown["alert"]["rule"] == "Delete Bucket Encryption"

    assert main(["dlq", "retry", "--queue-dir", str(tmp_path / "q"), "slack", "1"]) == 0
    assert "1 alert(s) queued again" in capsys.readouterr().out
    assert main(["dlq", "purge", "--config", str(cfg), "slack", "--all"]) == 0
    assert "1 alert(s) purged" in capsys.readouterr().out
    s = Store(tmp_path / "q" / "slack" / "queue.db")
    assert [i.id for i in s.peek(5)] == ["id2", "id0"] and s.dead_count() == 0


def test_errors(tmp_path: Path) -> None:
    (tmp_path / "q" / "a").mkdir(parents=True)
    Store(tmp_path / "q" / "a" / "queue.db").close()
    assert main(["dlq", "retry", "--queue-dir", str(tmp_path / "q"), "a"]) == 2
    assert main(["dlq", "list", "--queue-dir", str(tmp_path / "q"), "nope"]) == 2
