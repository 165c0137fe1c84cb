"""Fixtures for the end-to-end regression tests (harness: tests/held_falco.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from held_falco import HeldFalco
from plugin_abi import default_library


@pytest.fixture
def held_falco(tmp_path: Path) -> Iterator[tuple[HeldFalco, Path]]:
    if not Path(default_library()).is_file():
        pytest.skip(f"plugin library {default_library()} is not built (run `make plugin`)")
    sock = tmp_path / "ingest.sock"
    # Small batches and the smallest record limit, so windows and limits are reached with few records.
    f = HeldFalco(sock, {"maxBatchEvents": 4, "maxRecordBytes": 1024, "idleTimeoutMs": 10})
    yield f, sock
    f.close()
