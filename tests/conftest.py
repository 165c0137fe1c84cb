"""Shared test set-up: tests/ on sys.path so every folder can import plugin_abi."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


from collections.abc import Iterator  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import pytest  # noqa: E402

if TYPE_CHECKING:
    from aws import MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server process for the session (see tests/aws.py)."""
    pytest.importorskip("moto.server", reason="moto[server] (test extras) serves the AWS APIs")
    from aws import MotoServer

    server = MotoServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture()
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean moto for this test, fake credentials in the environment; yields the endpoint URL."""
    from aws import FAKE_CREDENTIALS

    for k, v in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    moto_server.reset()
    yield moto_server.url
