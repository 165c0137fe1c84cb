"""`ctbridge replay` as a user runs it: exit codes and messages when something is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env_extra: dict[str, str] | None = None, path: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FALCO_BINARY", "DOCKER_HOST")}
    env["PATH"] = path  # no falco, no docker: the search order ends with "not found"
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "bridge", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_no_falco_anywhere_says_how_to_get_one(tmp_path: Path) -> None:
    plugin = tmp_path / "libctbridge.so"
    plugin.write_bytes(b"\x7fELF")  # only its existence is checked before Falco is looked for
    res = run_cli("replay", str(REPO / "samples" / "seed"), "--plugin", str(plugin), path=str(tmp_path))
    assert res.returncode == 3, res.stderr
    assert "no Falco" in res.stderr
    assert "FALCO_BINARY" in res.stderr
    assert "docker" in res.stderr.lower()
    assert res.stdout == ""


def test_missing_input_path_is_a_config_error(tmp_path: Path) -> None:
    res = run_cli("replay", str(tmp_path / "nope.json.gz"), path=str(tmp_path))
    assert res.returncode == 2
    assert "nope.json.gz" in res.stderr and "does not exist" in res.stderr


def test_missing_rules_path_is_a_config_error(tmp_path: Path) -> None:
    res = run_cli("replay", str(REPO / "samples" / "seed"), "--rules", str(tmp_path / "r.yaml"),
                  path=str(tmp_path))
    assert res.returncode == 2
    assert "r.yaml" in res.stderr


def test_falco_binary_that_is_not_executable_is_reported(tmp_path: Path) -> None:
    plugin = tmp_path / "libctbridge.so"
    plugin.write_bytes(b"\x7fELF")
    res = run_cli("replay", str(REPO / "samples" / "seed"), "--plugin", str(plugin),
                  env_extra={"FALCO_BINARY": str(tmp_path / "missing-falco")}, path=str(tmp_path))
    assert res.returncode in (2, 3)
    assert "missing-falco" in res.stderr


def test_bad_log_level() -> None:
    res = run_cli("--log-level", "loud", "replay", "x")
    assert res.returncode == 2
    assert "unknown log level" in res.stderr


def test_grpc_intake_on_a_falco_without_grpc_is_refused_before_launch(tmp_path: Path) -> None:
    # Stands in for `falco --version` of a 0.45 binary; real binaries: tests/integration.
    falco = tmp_path / "falco"
    falco.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'Falco version: 0.45.0 (x86_64)' && exit 0\nexit 9\n")
    falco.chmod(0o755)
    plugin = tmp_path / "libctbridge.so"
    plugin.write_bytes(b"\x7fELF")
    res = run_cli("replay", str(REPO / "samples" / "seed"), "--plugin", str(plugin), "--intake", "grpc",
                  env_extra={"FALCO_BINARY": str(falco)}, path=str(tmp_path))
    assert res.returncode == 2, res.stderr
    assert "0.45.0 has no gRPC output" in res.stderr
