"""Fixtures for the rule tests and the rule tooling tests (their conftest.py files import them):
the built plugin, and a real Falco when there is one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bridge.falco.locate import FalcoTarget

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def plugin_path() -> str:
    path = os.environ.get("CTBRIDGE_PLUGIN") or str(REPO / "build" / "plugin" / "libctbridge.so")
    if not Path(path).is_file():
        pytest.skip(f"plugin library {path} is not built (run `make plugin` or set CTBRIDGE_PLUGIN)")
    return path


@pytest.fixture(scope="session")
def falco(plugin_path: str) -> FalcoTarget:
    binary = os.environ.get("FALCO_BINARY") or shutil.which("falco")
    if not binary or not shutil.which(binary):
        pytest.skip("no Falco: set FALCO_BINARY or put `falco` on PATH (rule tests run in a real Falco)")
    return FalcoTarget(kind="binary", binary=shutil.which(binary))
