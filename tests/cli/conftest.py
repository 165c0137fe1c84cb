from __future__ import annotations

from pathlib import Path

import pytest
from plugin_abi import default_library


@pytest.fixture
def plugin_built() -> None:
    if not Path(default_library()).is_file():
        pytest.skip(f"plugin library {default_library()} is not built (run `make plugin`)")
