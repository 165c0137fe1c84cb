from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from bridge.model import BadItem
from bridge.normalize.quarantine import Quarantine


def test_logs_one_warning_and_counts_without_a_directory(caplog: pytest.LogCaptureFixture) -> None:
    q = Quarantine(None)
    with caplog.at_level(logging.WARNING, logger="ctbridge.quarantine"):
        q.put(BadItem("logs/a.json#3", "logs/a.json record 3: has no eventTime", b"{}"))
        q.put(BadItem("logs/b.json", "logs/b.json: truncated JSON"))
    assert q.count == 2
    lines = [r for r in caplog.records if r.name == "ctbridge.quarantine"]
    assert len(lines) == 2 and all(r.levelno == logging.WARNING for r in lines)
    assert "logs/a.json#3" in lines[0].getMessage() and "has no eventTime" in lines[0].getMessage()


def test_writes_raw_and_reason_into_a_private_directory(tmp_path: Path) -> None:
    qdir = tmp_path / "q" / "inner"
    q = Quarantine(qdir)
    q.put(BadItem("s3://bucket/k.json.gz#7", "record 7: eventTime 'x' is not an RFC 3339 timestamp", b'{"eventTime":"x"}'))
    assert stat.S_IMODE(qdir.stat().st_mode) == 0o700
    (raw,) = qdir.glob("*.raw")
    (reason_file,) = qdir.glob("*.reason.json")
    assert raw.read_bytes() == b'{"eventTime":"x"}'
    assert stat.S_IMODE(raw.stat().st_mode) == 0o600
    reason = json.loads(reason_file.read_text())
    assert reason["origin"] == "s3://bucket/k.json.gz#7"
    assert "RFC 3339" in reason["reason"]
    assert reason["raw_file"] == raw.name and reason["raw_bytes"] == len(raw.read_bytes())
    assert raw.name.removesuffix(".raw") == reason_file.name.removesuffix(".reason.json")


def test_file_names_are_safe_and_unique(tmp_path: Path) -> None:
    q = Quarantine(tmp_path)
    for origin in ("../../etc/passwd#3", "../../etc/passwd#3", "/abs/../x", ".hidden", "a" * 500, "ünï/cødé"):
        q.put(BadItem(origin, "bad", b"x"))
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 12  # six .raw + six .reason.json, none overwritten
    for name in names:
        assert "/" not in name and not name.startswith(".") and len(name) < 160
        assert (tmp_path / name).parent == tmp_path
    assert not (tmp_path.parent / "etc").exists()


def test_item_without_raw_gets_only_a_reason(tmp_path: Path) -> None:
    q = Quarantine(tmp_path)
    q.put(BadItem("dir/unreadable.json", "cannot read: Permission denied"))
    (only,) = os.listdir(tmp_path)
    assert only.endswith(".reason.json")
    assert json.loads((tmp_path / only).read_text())["raw_file"] is None


def test_a_write_failure_is_logged_and_does_not_stop_the_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    q = Quarantine(blocker / "q")
    with caplog.at_level(logging.WARNING, logger="ctbridge.quarantine"):
        q.put(BadItem("x#1", "bad", b"x"))
        q.put(BadItem("x#2", "bad", b"x"))
    assert q.count == 2 and q.write_errors == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and "x#1" in errors[0].getMessage()
