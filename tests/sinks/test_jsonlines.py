"""The JSON-lines sink: one line per alert with Falco's keys, replaced or appended, flushed each time."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.model import Alert
from bridge.sinks.jsonlines import JsonLinesSink


def _alert(n: int) -> Alert:
    return Alert(time="2020-10-19T17:24:16.000000000Z", rule=f"R{n}", priority="Critical",
                 source="aws_cloudtrail", output=f"out {n}", hostname="h", tags=("aws",),
                 output_fields={"ct.id": str(n), "evt.time": 1603128256000000000}, extra={"intake": "http"})


def test_lines_are_flushed_as_they_come_and_file_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    out.write_text("old\n")
    with JsonLinesSink(str(out)) as sink:
        sink(_alert(1))
        line = json.loads(out.read_text())  # readable before close: flushed per alert
    assert list(line) == ["hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time",
                          "intake"]
    assert line["output_fields"]["evt.time"] == 1603128256000000000


def test_append_keeps_earlier_lines_and_threads_do_not_interleave(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    with JsonLinesSink(str(out)) as sink:
        sink(_alert(0))
    with JsonLinesSink(str(out), append=True) as sink:
        threads = [threading.Thread(target=lambda i=i: [sink(_alert(i * 100 + k)) for k in range(50)])
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    rules = [json.loads(line)["rule"] for line in out.read_text().splitlines()]
    assert rules[0] == "R0" and len(rules) == 201


def test_unwritable_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open"):
        JsonLinesSink(str(tmp_path / "no" / "such" / "dir.jsonl"))
