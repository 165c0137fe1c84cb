"""The bridge image installs its Python dependencies only from deploy/requirements.lock, with
--require-hashes, and the bridge itself from its own wheel with --no-deps (deploy/supply-chain.md).

There is no Docker engine on the test machines: test_image_install_steps_work_from_the_lock runs
the Dockerfile's own pip commands in a fresh venv in place of `docker build` (no test builds the
real image here; deploy/supply-chain.md says so)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _stages() -> dict[str, list[str]]:
    """Stage name -> its instructions, continuation lines joined, comments dropped."""
    text = (REPO / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        m = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            current = stages.setdefault(m.group(1) or f"stage{len(stages)}", [])
        current.append(line.strip())
    return stages


def _pip_commands(instructions: list[str]) -> list[list[str]]:
    """Every `pip ...` command of the stage's RUN instructions, as argv."""
    cmds = []
    for ins in instructions:
        if ins.upper().startswith("RUN "):
            for part in re.split(r"&&|;", ins[4:]):
                argv = shlex.split(part)
                if argv and argv[0] == "pip":
                    cmds.append(argv)
    return cmds


def _lock_path_in_image(instructions: list[str]) -> str:
    copies = [ins.split()[1:] for ins in instructions if ins.startswith("COPY ") and "--from" not in ins]
    dests = [dest for src, dest in copies if src == "deploy/requirements.lock"]
    assert len(dests) == 1, f"the bridge stage must COPY deploy/requirements.lock once: {copies}"
    return dests[0]


def test_bridge_stage_installs_dependencies_only_from_the_hashed_lock() -> None:
    bridge = _stages()["bridge"]
    lock = _lock_path_in_image(bridge)
    installs = [c for c in _pip_commands(bridge) if c[1] == "install"]
    assert installs, "the bridge stage installs nothing with pip"
    from_lock = [c for c in installs if "-r" in c and c[c.index("-r") + 1] == lock]
    assert len(from_lock) == 1 and "--require-hashes" in from_lock[0], installs
    for cmd in installs:
        if cmd in from_lock:
            continue
        # Anything else (the bridge's wheel) must neither resolve dependencies nor reach an index.
        assert "--no-deps" in cmd and "--no-index" in cmd, f"installs outside the lock: {shlex.join(cmd)}"
        assert "-r" not in cmd and "--requirement" not in cmd
    assert ["pip", "check"] in _pip_commands(bridge)


def test_wheel_stage_builds_only_the_project() -> None:
    wheels = [c for c in _pip_commands(_stages()["bridge-build"]) if c[1] == "wheel"]
    assert wheels and all("--no-deps" in c for c in wheels), wheels


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/six/", timeout=10):
            return True
    except OSError:
        return False


@pytest.mark.timeout(900)
def test_image_install_steps_work_from_the_lock(tmp_path: Path) -> None:
    """The Dockerfile's pip commands, run as written (image paths mapped to the repository's files)
    in a clean venv against PyPI: every file matches its hash, the bridge installs and runs."""
    if not _pypi_reachable():
        pytest.skip("PyPI is not reachable from here: the lock's files cannot be fetched")
    stages = _stages()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # As in the image: PyPI only, not this machine's pip.conf (local indexes, constraints).
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": "", "PIP_NO_INPUT": "1"}
    wheels = tmp_path / "wheels"
    image_paths = {_lock_path_in_image(stages["bridge"]): str(REPO / "deploy" / "requirements.lock")}

    def run(stage: str, verb: str) -> None:
        for argv in (c for c in _pip_commands(stages[stage]) if c[1] == verb):
            argv = [image_paths.get(a, a).replace("/wheels", str(wheels)) for a in argv]
            if verb == "install":  # expand the glob the shell would
                argv = [*(a for a in argv if "*" not in a), *(str(p) for p in sorted(wheels.glob("*.whl")) if any("*" in a for a in argv))]
            res = subprocess.run([str(venv / "bin" / "python"), "-m", *argv], cwd=REPO, env=env, capture_output=True, text=True)
            assert res.returncode == 0, f"{shlex.join(argv)}:\n{res.stdout[-2000:]}{res.stderr[-3000:]}"

    run("bridge-build", "wheel")
    assert [p.name for p in wheels.glob("*.whl")] and all(p.name.startswith("falco_cloudtrail_bridge-") for p in wheels.glob("*.whl"))
    run("bridge", "install")
    res = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout
    res = subprocess.run([str(venv / "bin" / "ctbridge"), "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip(), res.stderr
    # Every installed distribution is pinned in the lock (nothing resolved beside it).
    frozen = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True)
    pins = {re.sub(r"[-_.]+", "-", m.group(1).lower()) + "==" + m.group(2) for m in re.finditer(r"^([A-Za-z0-9][\w.\-]*)==(\S+)", (REPO / "deploy" / "requirements.lock").read_text(encoding="utf-8"), re.M)}
    installed = {re.sub(r"[-_.]+", "-", line.split("==")[0].lower()) + "==" + line.split("==")[1] for line in frozen.stdout.splitlines() if "==" in line}
    others = {line.split(" @ ")[0] for line in frozen.stdout.splitlines() if "==" not in line}
    extra = {i for i in installed - pins if not i.startswith(("pip==", "setuptools==", "wheel=="))}  # the venv's own
    assert not extra, f"installed but not in the lock: {sorted(extra)}"
    assert others == {"falco-cloudtrail-bridge"}, others
    assert pins <= installed, f"in the lock but not installed: {sorted(pins - installed)}"
