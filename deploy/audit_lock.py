"""Check every pin of deploy/requirements.lock for known vulnerabilities, for when pip-audit cannot
reach its services (PyPI's per-version JSON API, OSV). Usage:
    python deploy/audit_lock.py [--db DIR] [--pypi URL] [--lock deploy/requirements.lock]
--db DIR: a checkout of github.com/pypa/advisory-database (or its vulns/ folder); a pin is hit
when it lies in an advisory's affected ranges or versions. It knows only what the copy knows.
--pypi URL (e.g. https://pypi.org): PyPI's JSON API, whose `vulnerabilities` list is current. It
asks the per-version document first; where a mirror serves only the project document, that one
describes the latest release, so it audits a pin only when the pin is the latest.
Prints one line per pin. Exit 1: a pin is affected; 2: with --pypi and no --db, a pin could not
be audited; 0: neither.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version


def read_lock(path: Path) -> dict[str, Version]:
    """name -> pinned version, from pip-compile's `name==version \\` lines."""
    pins: dict[str, Version] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9_.\-]*)==([^\s;\\]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = Version(m.group(2))
    return pins


def _v(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """OSV ECOSYSTEM range: affected from each `introduced` up to its `fixed` (excluded) or
    `last_affected` (included). Events are taken in version order, as OSV defines them."""
    points: list[tuple[Version, int, str]] = []
    for ev in events:
        for kind, text in ev.items():
            v = Version("0") if text == "0" else _v(text)
            if v is not None and kind in ("introduced", "fixed", "last_affected"):
                # at one version, "fixed" closes before "introduced" reopens
                points.append((v, {"fixed": 0, "introduced": 1, "last_affected": 2}[kind], kind))
    affected = False
    for v, _, kind in sorted(points):
        if kind == "introduced" and v <= version:
            affected = True
        elif kind == "fixed" and v <= version:
            affected = False
        elif kind == "last_affected" and v < version:
            affected = False
    return affected


def affects(advisory: dict[str, Any], name: str, version: Version) -> bool:
    if advisory.get("withdrawn"):
        return False
    for aff in advisory.get("affected") or []:
        pkg = aff.get("package") or {}
        if pkg.get("ecosystem") != "PyPI" or canonicalize_name(pkg.get("name", "")) != name:
            continue
        if any(_v(str(t)) == version for t in aff.get("versions") or []):
            return True
        for rng in aff.get("ranges") or []:
            if rng.get("type") == "ECOSYSTEM" and in_range(version, rng.get("events") or []):
                return True
    return False


def advisories(db: Path, name: str) -> list[dict[str, Any]]:
    base = db / "vulns" if (db / "vulns").is_dir() else db
    found: list[dict[str, Any]] = []
    for folder in base.iterdir() if base.is_dir() else []:
        if folder.is_dir() and canonicalize_name(folder.name) == name:
            found += [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.yaml"))]
    return found


def _get_json(url: str) -> dict[str, Any] | None:
    """The document, or None for a 404; any other failure raises (the audit cannot be trusted)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            doc = json.load(resp)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise
    if not isinstance(doc, dict):
        raise ValueError(f"{url}: not a JSON object")
    return doc


def pypi_vulns(index: str, name: str, version: Version) -> list[str] | None:
    """IDs of PyPI's current, not withdrawn vulnerabilities for this version; None when PyPI's
    JSON cannot say (no per-version document and the pin is not the latest release)."""
    base = index.rstrip("/")
    doc = _get_json(f"{base}/pypi/{name}/{version}/json")
    if doc is None:
        doc = _get_json(f"{base}/pypi/{name}/json")
        latest = _v(str(((doc or {}).get("info") or {}).get("version", "")))
        if doc is None or latest != version:
            return None
    vulns = doc.get("vulnerabilities")
    if not isinstance(vulns, list):
        return None  # an index without vulnerability data audits nothing
    return [str(v.get("id")) for v in vulns if isinstance(v, dict) and not v.get("withdrawn")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, help="checkout of pypa/advisory-database")
    ap.add_argument("--pypi", metavar="URL", help="PyPI's JSON API, e.g. https://pypi.org")
    ap.add_argument("--lock", type=Path, default=Path(__file__).with_name("requirements.lock"))
    args = ap.parse_args(argv)
    if args.db is None and args.pypi is None:
        ap.error("give --db DIR, --pypi URL or both")
    if args.db is not None and not args.db.is_dir():
        ap.error(f"{args.db}: not a directory")
    bad = unaudited = 0
    for name, version in sorted(read_lock(args.lock).items()):
        parts, hits = [], []
        if args.pypi is not None:
            try:
                found = pypi_vulns(args.pypi, name, version)
            except (OSError, ValueError) as e:
                found, parts = None, [f"PyPI: cannot ask ({e})"]
            if found is None:
                unaudited += args.db is None
                parts = parts or ["PyPI: no vulnerability data for this version (not the latest release)"]
            else:
                hits += found
                parts.append(f"PyPI: {len(found)} vulnerabilities")
        if args.db is not None:
            advs = advisories(args.db, name)
            hits += [a["id"] for a in advs if affects(a, name, version) and a["id"] not in hits]
            parts.append(f"advisory database: {len(advs)} advisories")
        bad += bool(hits)
        verdict = f"AFFECTED by {', '.join(hits)}" if hits else "none affects this version"
        print(f"{name}=={version}: {'; '.join(parts)}; {verdict}")
    if unaudited:
        print(f"{unaudited} pin(s) could not be audited: give --db too, or check them by hand", file=sys.stderr)
    return 1 if bad else 2 if unaudited else 0


if __name__ == "__main__":
    sys.exit(main())
