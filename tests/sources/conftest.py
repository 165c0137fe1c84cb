from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from plugin_abi import default_library  # noqa: E402


@pytest.fixture
def falco(tmp_path: Path) -> Iterator[object]:
    from ct import plugin_falco_at

    yield from plugin_falco_at(tmp_path / "ingest.sock")


@pytest.fixture
def plugin_built() -> None:
    if not Path(default_library()).is_file():
        pytest.skip(f"plugin library {default_library()} is not built (run `make plugin`)")
