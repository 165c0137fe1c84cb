"""Real Falco for the integration tests: the falcosecurity/falco images through Docker, or FALCO_BINARY.

Each fixture skips with the reason when its Falco is not to be had here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # falco_helpers

from falco_helpers import IMAGE_GRPC, IMAGE_HTTP, REPO, SEED, Expected  # noqa: E402

from bridge.falco.locate import FalcoTarget, docker_available, falco_version  # noqa: E402

PULL_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def expected() -> Expected:
    data = yaml.safe_load((SEED / "expected_alerts.yaml").read_text(encoding="utf-8"))
    return Expected(alerts=data["alerts"], quiet=data["quiet"], inputs=data["inputs"])


@pytest.fixture(scope="session")
def plugin_path() -> str:
    path = Path(os.environ.get("CTBRIDGE_PLUGIN", REPO / "build/plugin/libctbridge.so"))
    if not path.is_file():
        pytest.skip(f"plugin library {path} is not built (run `make plugin`)")
    return str(path.resolve())


@pytest.fixture(scope="session")
def docker_ok() -> bool:
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI: the image tests need Docker")
    if not docker_available(timeout_s=10):
        pytest.skip("Docker daemon not reachable (`docker info` failed): the image tests need it")
    return True


def pull(image: str) -> None:
    """Pull once per session, so start-up timeouts do not include the download."""
    have = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
    if have.returncode == 0:
        return
    done = subprocess.run(["docker", "pull", image], capture_output=True, text=True, timeout=PULL_TIMEOUT_S,
                          check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot pull {image}: {done.stderr.strip()[-300:]}")


@pytest.fixture(scope="session")
def image_http(docker_ok: bool) -> str:
    pull(IMAGE_HTTP)
    return IMAGE_HTTP


@pytest.fixture(scope="session")
def image_grpc(docker_ok: bool) -> str:
    pull(IMAGE_GRPC)
    return IMAGE_GRPC


def find_falco_binary() -> str | None:
    """FALCO_BINARY, else `falco` on PATH (the same order as the bridge's own locate())."""
    binary = os.environ.get("FALCO_BINARY")
    if binary:
        resolved = shutil.which(binary)
        if resolved is None:
            pytest.fail(f"FALCO_BINARY={binary} is not an executable file")
        return resolved
    return shutil.which("falco")


@pytest.fixture(scope="session")
def falco_binary() -> tuple[str, tuple[int, int, int]]:
    resolved = find_falco_binary()
    if resolved is None:
        pytest.skip("no Falco binary: set FALCO_BINARY or put `falco` on PATH (the binary tests need one)")
    return resolved, falco_version(resolved)


@pytest.fixture(params=["binary", IMAGE_HTTP, IMAGE_GRPC])
def falco_target(request: pytest.FixtureRequest) -> FalcoTarget:
    """Every Falco available here, one at a time."""
    if request.param == "binary":
        binary, _ = request.getfixturevalue("falco_binary")
        return FalcoTarget(kind="binary", binary=binary)
    request.getfixturevalue("docker_ok")
    pull(str(request.param))
    return FalcoTarget(kind="docker", image=str(request.param))


@pytest.fixture()
def short_tmp() -> Iterator[Path]:
    # pytest's tmp_path can get too long for a unix socket path (107 bytes).
    with tempfile.TemporaryDirectory(prefix="ctb-") as name:
        path = Path(name)
        path.chmod(0o755)
        yield path


