"""deploy/audit_lock.py: a pinned version inside an advisory's affected ranges (OSV, as in
pypa/advisory-database) fails the audit; outside them, or in a withdrawn advisory, it does not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "deploy"))
import audit_lock  # noqa: E402


def _advisory(db: Path, folder: str, ident: str, events: list[dict[str, str]], **extra: object) -> None:
    doc = {
        "id": ident,
        "affected": [{"package": {"name": folder, "ecosystem": "PyPI"}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
        **extra,
    }
    (db / "vulns" / folder).mkdir(parents=True, exist_ok=True)
    (db / "vulns" / folder / f"{ident}.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")


@pytest.mark.parametrize(
    ("version", "events", "hit"),
    [
        ("1.2.0", [{"introduced": "0"}, {"fixed": "1.3.0"}], True),
        ("1.3.0", [{"introduced": "0"}, {"fixed": "1.3.0"}], False),  # fixed is excluded
        ("1.1.9", [{"introduced": "1.2"}, {"fixed": "1.3.0"}], False),  # before introduced
        ("2.0", [{"introduced": "1.0"}, {"last_affected": "2.0"}], True),  # last_affected is included
        ("2.0.1", [{"introduced": "1.0"}, {"last_affected": "2.0"}], False),
        ("5.0", [{"introduced": "4.0"}], True),  # no fix yet
        ("2.5", [{"introduced": "1.0"}, {"fixed": "2.0"}, {"introduced": "3.0"}, {"fixed": "3.1"}], False),
        ("3.0.5", [{"introduced": "1.0"}, {"fixed": "2.0"}, {"introduced": "3.0"}, {"fixed": "3.1"}], True),
    ],
)
def test_ranges(version: str, events: list[dict[str, str]], hit: bool) -> None:
    assert audit_lock.in_range(audit_lock.Version(version), events) is hit


def test_explicit_versions_list_and_name_normalisation(tmp_path: Path) -> None:
    doc = {"id": "PYSEC-X", "affected": [{"package": {"name": "PyYAML", "ecosystem": "PyPI"}, "versions": ["5.3"]}]}
    assert audit_lock.affects(doc, "pyyaml", audit_lock.Version("5.3"))
    assert not audit_lock.affects(doc, "pyyaml", audit_lock.Version("5.4"))
    assert not audit_lock.affects({**doc, "withdrawn": "2024-01-01T00:00:00Z"}, "pyyaml", audit_lock.Version("5.3"))


def test_cli_fails_on_an_affected_pin_and_names_the_advisory(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("urllib3==1.26.4 \\\n    --hash=sha256:" + "0" * 64 + "\nsix==1.17.0 \\\n    --hash=sha256:" + "1" * 64 + "\n", encoding="utf-8")
    db = tmp_path / "db"
    _advisory(db, "urllib3", "PYSEC-2021-108", [{"introduced": "0"}, {"fixed": "1.26.5"}])
    _advisory(db, "six", "PYSEC-OLD", [{"introduced": "0"}, {"fixed": "1.16.0"}])
    run = [sys.executable, str(REPO / "deploy" / "audit_lock.py"), "--db", str(db), "--lock", str(lock)]
    res = subprocess.run(run, capture_output=True, text=True)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "urllib3==1.26.4: 1 advisories, AFFECTED by PYSEC-2021-108" in res.stdout
    assert "six==1.17.0: 1 advisories, none affects this version" in res.stdout
    lock.write_text("urllib3==1.26.5 \\\n    --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8")
    res = subprocess.run(run, capture_output=True, text=True)
    assert res.returncode == 0 and "urllib3==1.26.5: 1 advisories, none affects" in res.stdout, res.stdout


def test_the_lock_parses_to_every_pin() -> None:
    pins = audit_lock.read_lock(REPO / "deploy" / "requirements.lock")
    assert {"boto3", "botocore", "urllib3", "grpcio", "protobuf", "pyyaml"} <= set(pins) and len(pins) >= 10
