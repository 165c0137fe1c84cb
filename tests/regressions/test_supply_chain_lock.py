"""deploy/requirements.lock pins every runtime dependency of the image, each with its hashes, at a
version that meets pyproject.toml's lower bound (deploy/supply-chain.sh installs it with
--require-hashes, audits it and writes the SBOM)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]


def _lock() -> dict[str, tuple[Version, list[str]]]:
    text = (REPO / "deploy" / "requirements.lock").read_text(encoding="utf-8")
    pins: dict[str, tuple[Version, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if m:
            pins[canonicalize_name(m.group(1))] = (Version(m.group(2)), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def test_every_runtime_dependency_is_pinned_with_hashes_within_its_bounds() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = _lock()
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in deploy/requirements.lock (LOCK_REFRESH=1 make supply-chain)"
        version, hashes = pins[name]
        assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version} outside {req.specifier}"
        assert hashes, f"{req.name} has no --hash in the lock"


def test_every_pin_in_the_lock_has_a_hash() -> None:
    pins = _lock()
    assert len(pins) >= 10  # the dependencies and their own (botocore, urllib3, ...)
    assert all(hashes for _, hashes in pins.values()), [n for n, (_, h) in pins.items() if not h]
