"""bridge/normalize/quarantine.py details that make mutation left unchecked: the exact file names,
the numbering of repeats, the reason file's fields."""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path

import pytest

from bridge.model import BadItem
from bridge.normalize.quarantine import Quarantine, safe_name


def _digest(origin: str) -> str:
    return hashlib.sha256(origin.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def test_safe_name_keeps_the_tail_of_the_origin_and_a_short_digest() -> None:
    assert safe_name("s3://b/AWSLogs/x.json.gz#7") == "s3_b_AWSLogs_x.json.gz_7-" + _digest("s3://b/AWSLogs/x.json.gz#7")
    long = "p/" + "a" * 300 + "#12"
    assert safe_name(long) == "a" * 97 + "_12-" + _digest(long)  # the last 100 characters: the record number survives
    assert safe_name("._.x._") == "x-" + _digest("._.x._")
    assert safe_name("/../") == "item-" + _digest("/../")
    # A cut that starts at a dot or underscore is trimmed again.
    cut = "b" * 50 + "._" + "c" * 98
    assert safe_name(cut) == "c" * 98 + "-" + _digest(cut)
    assert safe_name("\udcff") == "item-" + _digest("\udcff")  # lone surrogate: still a name
    assert re.fullmatch(r"[0-9a-f]{12}", safe_name("x").rsplit("-", 1)[1])


def test_repeats_are_numbered_from_2_whichever_file_exists(tmp_path: Path) -> None:
    q = Quarantine(tmp_path)
    base = safe_name("o")
    q.put(BadItem("o", "r1", b"1"))
    q.put(BadItem("o", "r2", b"2"))
    q.put(BadItem("o", "r3", None))
    assert sorted(os.listdir(tmp_path)) == sorted([f"{base}.raw", f"{base}.reason.json", f"{base}.2.raw",
                                                   f"{base}.2.reason.json", f"{base}.3.reason.json"])
    # A name taken only by a stray .raw (no reason file) is skipped too.
    (tmp_path / f"{safe_name('p')}.raw").write_bytes(b"stray")
    q.put(BadItem("p", "r", b"new"))
    assert (tmp_path / f"{safe_name('p')}.2.raw").read_bytes() == b"new"
    assert (tmp_path / f"{safe_name('p')}.raw").read_bytes() == b"stray"


def test_reason_file_fields(tmp_path: Path) -> None:
    q = Quarantine(tmp_path)
    before = time.time()
    q.put(BadItem("o#1", "why", b"abc"))
    q.put(BadItem("o#2", "why not", None))
    r1 = json.loads((tmp_path / f"{safe_name('o#1')}.reason.json").read_text())
    r2 = json.loads((tmp_path / f"{safe_name('o#2')}.reason.json").read_text())
    assert set(r1) == {"origin", "reason", "quarantined_at", "raw_file", "raw_bytes"}
    assert (r1["origin"], r1["reason"], r1["raw_file"], r1["raw_bytes"]) == ("o#1", "why", f"{safe_name('o#1')}.raw", 3)
    assert (r2["raw_file"], r2["raw_bytes"]) == (None, None)
    at = calendar.timegm(time.strptime(r1["quarantined_at"], "%Y-%m-%dT%H:%M:%SZ"))
    assert int(before) - 1 <= at <= time.time() + 2  # UTC, now
    assert (tmp_path / f"{safe_name('o#1')}.reason.json").read_bytes().endswith(b"}\n")
    assert q.count == 2 and q.write_errors == 0



def test_log_lines_in_full(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Operators search the logs for these lines: the WARNING for every item, the ERROR when the
    # copy on disk could not be written.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING, logger="ctbridge.quarantine"):
        Quarantine(blocker / "q").put(BadItem("s3://b/k#4", "record 4: has no eventTime", b"{}"))
    warning, error = [r for r in caplog.records if r.name == "ctbridge.quarantine"]
    assert warning.getMessage() == "quarantined s3://b/k#4: record 4: has no eventTime"
    assert error.getMessage().startswith(f"could not write quarantined s3://b/k#4 to {blocker / 'q'}: ")


def test_only_dots_and_underscores_are_trimmed_from_the_ends() -> None:
    assert safe_name("XlogX") == "XlogX-" + _digest("XlogX")
    cut = "b" * 50 + "X" + "c" * 99
    assert safe_name(cut) == "X" + "c" * 99 + "-" + _digest(cut)


def test_repeats_without_raw_bytes_are_numbered_too(tmp_path: Path) -> None:
    q = Quarantine(tmp_path)
    q.put(BadItem("s3://b/k", "cannot read", None))
    q.put(BadItem("s3://b/k", "cannot read", None))
    assert q.write_errors == 0
    assert sorted(os.listdir(tmp_path)) == [f"{safe_name('s3://b/k')}.2.reason.json", f"{safe_name('s3://b/k')}.reason.json"]
