"""Fixtures for destination tests: a recording HTTP server and sample alerts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sinks.recorder import Recorder


@pytest.fixture()
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    try:
        yield r
    finally:
        r.close()
