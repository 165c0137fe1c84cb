"""`pip install .` without extras gives a working ctbridge: run from an unrelated directory, it
finds its Falco configs, rules and protos inside the package and replays the seed through the real
Falco over HTTP and over gRPC."""

from __future__ import annotations

import os
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from falco_helpers import REPO, SEED, Expected, assert_alerts, read_alerts

from bridge.falco.locate import has_grpc_output

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("fresh")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    done = subprocess.run([str(py), "-m", "pip", "install", "-q", str(REPO)], capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, f"pip install . failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    # No test extras: the code generator must not be there, or the test proves nothing.
    probe = subprocess.run([str(py), "-c", "import grpc_tools"], capture_output=True, check=False)
    assert probe.returncode != 0, "grpcio-tools got installed without the test extras"
    yield env_dir


def _replay(env_dir: Path, cwd: Path, binary: str, plugin: str, *args: str) -> list[dict[str, object]]:
    out = cwd / "alerts.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTBRIDGE_", "PYTHON"))}
    env["FALCO_BINARY"] = binary
    done = subprocess.run([str(env_dir / "bin" / "ctbridge"), "replay", str(SEED), "--plugin", plugin,
                           "--out", str(out), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return read_alerts(out)


def test_installed_ctbridge_replays_over_http(
    installed: Path, falco_binary: tuple[str, tuple[int, int, int]], plugin_path: str, tmp_path: Path,
    expected: Expected,
) -> None:
    assert_alerts(_replay(installed, tmp_path, falco_binary[0], plugin_path), expected.alerts)


def test_installed_ctbridge_replays_over_grpc(
    installed: Path, falco_binary: tuple[str, tuple[int, int, int]], plugin_path: str, tmp_path: Path,
    expected: Expected,
) -> None:
    binary, version = falco_binary
    if not has_grpc_output(version):
        pytest.skip(f"Falco {'.'.join(map(str, version))} has no gRPC output (removed in 0.44)")
    assert_alerts(_replay(installed, tmp_path, binary, plugin_path, "--intake", "grpc"), expected.alerts)


def test_installed_package_carries_configs_rules_and_protos(installed: Path, tmp_path: Path) -> None:
    code = ("from bridge import resources; from bridge.intake import falco_proto as pb; "
            "print(resources.falco_config_dir()); print(resources.rules_dir()); "
            "print(pb.OutputsResponse.DESCRIPTOR.full_name)")
    done = subprocess.run([str(installed / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, check=False, env={"PATH": os.environ.get("PATH", "")})
    assert done.returncode == 0, done.stderr
    config_dir, rules_dir, message = done.stdout.split()
    assert Path(config_dir).is_relative_to(installed) and (Path(config_dir) / "falco-grpc.yaml").is_file()
    assert Path(rules_dir).is_relative_to(installed) and (Path(rules_dir) / "seed_scenario.yaml").is_file()
    assert message == "falco.outputs.response"
