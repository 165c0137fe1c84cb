from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "sources"))



@pytest.fixture
def plugin_falco(tmp_path: Path) -> Iterator[object]:
    from ct import plugin_falco_at

    yield from plugin_falco_at(tmp_path / "ingest.sock")
