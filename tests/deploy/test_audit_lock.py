"""deploy/audit_lock.py: a pinned version inside an advisory's affected ranges (OSV, as in
pypa/advisory-database) fails the audit; outside them, or in a withdrawn advisory, it does not."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
    assert "urllib3==1.26.4: advisory database: 1 advisories; AFFECTED by PYSEC-2021-108" in res.stdout
    assert "six==1.17.0: advisory database: 1 advisories; none affects this version" in res.stdout
    lock.write_text("urllib3==1.26.5 \\\n    --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8")
    res = subprocess.run(run, capture_output=True, text=True)
    assert res.returncode == 0 and "urllib3==1.26.5: advisory database: 1 advisories; none affects" in res.stdout, res.stdout


def test_the_lock_parses_to_every_pin() -> None:
    pins = audit_lock.read_lock(REPO / "deploy" / "requirements.lock")
    assert {"boto3", "botocore", "urllib3", "grpcio", "protobuf", "pyyaml"} <= set(pins) and len(pins) >= 10


# --pypi: PyPI's JSON API. _Index stands in for pypi.org (to give it vulnerabilities on demand);
# test_pypi_audit_of_the_lock_against_pypi runs the same code against the real one.
class _Index(ThreadingHTTPServer):
    docs: dict[str, object]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        doc = self.server.docs.get(self.path)  # type: ignore[attr-defined]
        if doc is None:
            self.send_error(404)
            return
        if doc == 500:
            self.send_error(500)
            return
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index() -> Iterator[_Index]:
    srv = _Index(("127.0.0.1", 0), _Handler)
    srv.docs = {}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _pypi_run(tmp_path: Path, index: _Index, pins: str, *extra: str) -> subprocess.CompletedProcess[str]:
    lock = tmp_path / "requirements.lock"
    lock.write_text("".join(f"{p} \\\n    --hash=sha256:{'0' * 64}\n" for p in pins.split()), encoding="utf-8")
    url = f"http://127.0.0.1:{index.server_address[1]}"
    return subprocess.run([sys.executable, str(REPO / "deploy" / "audit_lock.py"), "--pypi", url, "--lock", str(lock), *extra],
                          capture_output=True, text=True)


def test_pypi_latest_release_with_a_vulnerability_fails_and_a_withdrawn_one_does_not(tmp_path: Path, index: _Index) -> None:
    index.docs["/pypi/urllib3/json"] = {"info": {"version": "2.8.0"}, "vulnerabilities": [
        {"id": "GHSA-aaaa", "withdrawn": None}, {"id": "GHSA-gone", "withdrawn": "2026-01-01T00:00:00Z"}]}
    index.docs["/pypi/six/json"] = {"info": {"version": "1.17.0"}, "vulnerabilities": []}
    res = _pypi_run(tmp_path, index, "urllib3==2.8.0 six==1.17.0")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "urllib3==2.8.0: PyPI: 1 vulnerabilities; AFFECTED by GHSA-aaaa" in res.stdout
    assert "six==1.17.0: PyPI: 0 vulnerabilities; none affects this version" in res.stdout


def test_pypi_per_version_document_is_used_when_served(tmp_path: Path, index: _Index) -> None:
    index.docs["/pypi/urllib3/1.26.4/json"] = {"info": {"version": "1.26.4"}, "vulnerabilities": [{"id": "PYSEC-2021-108"}]}
    index.docs["/pypi/urllib3/json"] = {"info": {"version": "2.8.0"}, "vulnerabilities": []}
    res = _pypi_run(tmp_path, index, "urllib3==1.26.4")
    assert res.returncode == 1 and "AFFECTED by PYSEC-2021-108" in res.stdout, res.stdout


def test_pypi_cannot_say_for_an_older_pin_without_its_document(tmp_path: Path, index: _Index) -> None:
    """The project document describes the latest release only: an older pin is unaudited (exit 2),
    unless the advisory database is given too."""
    index.docs["/pypi/python-dateutil/json"] = {"info": {"version": "4.0.0"}, "vulnerabilities": []}
    res = _pypi_run(tmp_path, index, "python-dateutil==2.9.0.post0")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "no vulnerability data for this version" in res.stdout and "could not be audited" in res.stderr
    db = tmp_path / "db"
    _advisory(db, "python-dateutil", "PYSEC-OLD", [{"introduced": "0"}, {"fixed": "2.0"}])
    res = _pypi_run(tmp_path, index, "python-dateutil==2.9.0.post0", "--db", str(db))
    assert res.returncode == 0 and "advisory database: 1 advisories; none affects" in res.stdout, res.stdout


def test_pypi_errors_leave_the_pin_unaudited_never_clean(tmp_path: Path, index: _Index) -> None:
    index.docs["/pypi/six/1.17.0/json"] = 500
    res = _pypi_run(tmp_path, index, "six==1.17.0")
    assert res.returncode == 2 and "PyPI: cannot ask" in res.stdout, res.stdout
    index.docs["/pypi/six/1.17.0/json"] = {"info": {"version": "1.17.0"}}  # no vulnerability data at all
    res = _pypi_run(tmp_path, index, "six==1.17.0")
    assert res.returncode == 2, res.stdout


def test_pypi_audit_of_the_lock_against_pypi() -> None:
    """The real PyPI: every pin of the image's lock gets a verdict; a current vulnerability in a
    pinned version fails here (bump the pin, or justify it in deploy/supply-chain.md)."""
    try:
        urllib.request.urlopen("https://pypi.org/pypi/six/json", timeout=10).close()
    except OSError:
        pytest.skip("PyPI's JSON API is not reachable from here")
    res = subprocess.run([sys.executable, str(REPO / "deploy" / "audit_lock.py"), "--pypi", "https://pypi.org"],
                         capture_output=True, text=True, timeout=600)
    pins = audit_lock.read_lock(REPO / "deploy" / "requirements.lock")
    lines = {line.split("==")[0]: line for line in res.stdout.splitlines()}
    assert set(lines) == set(pins), res.stdout + res.stderr
    assert res.returncode != 1, f"a pinned version has a known vulnerability:\n{res.stdout}"
    audited = [n for n, line in lines.items() if "PyPI: 0 vulnerabilities" in line]
    assert res.returncode == (2 if len(audited) < len(pins) else 0), res.stdout
