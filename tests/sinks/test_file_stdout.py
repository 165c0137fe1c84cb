"""stdout and file destinations: JSON lines, size-based rotation."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sinks.alerts import cloud, make_sink

from bridge.route.ident import alert_id


def test_stdout_lines(capsys: pytest.CaptureFixture[str]) -> None:
    make_sink({"name": "o", "type": "stdout"}).send([cloud(1), cloud(2)])
    lines = capsys.readouterr().out.splitlines()
    assert [orjson.loads(x)["id"] for x in lines] == [alert_id(cloud(1)), alert_id(cloud(2))]


def test_file_rotates_by_size(tmp_path: Path) -> None:
    p = tmp_path / "alerts.jsonl"
    one = len(orjson.dumps({**cloud(0).to_dict(), "id": alert_id(cloud(0))})) + 1
    s = make_sink({"name": "f", "type": "file", "path": str(p), "max_bytes": one * 2 + 10, "backups": 2})
    for i in range(7):
        s.send([cloud(i)])
    s.close()
    files = [p, Path(f"{p}.1"), Path(f"{p}.2")]
    ids = [[orjson.loads(x)["id"] for x in f.read_bytes().splitlines()] for f in files]
    assert ids == [[alert_id(cloud(6))], [alert_id(cloud(4)), alert_id(cloud(5))],
                   [alert_id(cloud(2)), alert_id(cloud(3))]]
    assert not Path(f"{p}.3").exists()
