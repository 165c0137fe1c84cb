"""Fixtures for the plugin's ctypes tests: the built library and realistic CloudTrail records."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for plugin_abi

from plugin_abi import PluginLib, PluginState, default_library  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # plugin_samples

from plugin_samples import make_record  # noqa: E402


@pytest.fixture(scope="session")
def plugin_lib() -> PluginLib:
    path = default_library()
    if not Path(path).is_file():
        pytest.skip(f"plugin library {path} is not built (run `make plugin` or set CTBRIDGE_PLUGIN)")
    return PluginLib(path)


@pytest.fixture
def record_factory() -> Callable[..., dict[str, Any]]:
    return make_record


@pytest.fixture
def state(plugin_lib: PluginLib) -> Iterator[PluginState]:
    """A fresh plugin state per test (plugin_init with the default config)."""
    st = plugin_lib.init()
    yield st
    st.destroy()
