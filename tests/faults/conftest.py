from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "sources"))

from plugin_abi import default_library  # noqa: E402


@pytest.fixture
def plugin_falco(tmp_path: Path) -> Iterator[object]:
    if not Path(default_library()).is_file():
        pytest.skip(f"plugin library {default_library()} is not built (run `make plugin`)")
    from ct import PluginFalco

    f = PluginFalco(tmp_path / "ingest.sock")
    f.start()
    yield f
    f.close()
    assert f.error is None, f.error
