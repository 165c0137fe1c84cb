"""Check every pin of deploy/requirements.lock against the PyPA advisory database (OSV YAML files).

For when pip-audit cannot reach its services (PyPI's per-version JSON API, OSV). Usage:
    python deploy/audit_lock.py --db DIR [--lock deploy/requirements.lock]
DIR is a checkout of github.com/pypa/advisory-database (or its vulns/ folder). Prints one line per
pin and exits 1 when a pinned version lies in an advisory's affected ranges or versions.
"""

from __future__ import annotations

import argparse
import re
import sys
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True, help="checkout of pypa/advisory-database")
    ap.add_argument("--lock", type=Path, default=Path(__file__).with_name("requirements.lock"))
    args = ap.parse_args(argv)
    if not (args.db / "vulns").is_dir() and not args.db.is_dir():
        ap.error(f"{args.db}: not a directory")
    bad = 0
    for name, version in sorted(read_lock(args.lock).items()):
        advs = advisories(args.db, name)
        hits = [a["id"] for a in advs if affects(a, name, version)]
        bad += bool(hits)
        print(f"{name}=={version}: {len(advs)} advisories, " + (f"AFFECTED by {', '.join(hits)}" if hits else "none affects this version"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
