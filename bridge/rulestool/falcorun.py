"""One real Falco over a file of records: the plugin's file:// source, alerts to a JSON file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bridge.errors import BridgeError
from bridge.falco.locate import FalcoTarget, locate
from bridge.falco.runner import BASE_ARGS, build_config, load_template


def falco_target(binary: str | None = None, image: str = "falcosecurity/falco:0.45.0") -> FalcoTarget:
    """FALCO_BINARY / `falco` on PATH / Docker, like replay (FalcoNotFound when none)."""
    return locate(None, falco_binary=binary, docker_image=image)


def _argv(target: FalcoTarget, args: list[str], mounts: list[str]) -> list[str]:
    if target.kind == "binary" and target.binary:
        return [target.binary, *args]
    docker = shutil.which("docker") or "docker"
    argv = [docker, "run", "--rm", "--name", f"ctbridge-rules-{uuid.uuid4().hex[:10]}", "--network", "none",
            "--user", f"{os.getuid()}:{os.getgid()}"]
    for m in sorted(set(mounts)):
        argv += ["-v", f"{m}:{m}"]
    return [*argv, str(target.image), "/usr/bin/falco", *args]


def falco_version(target: FalcoTarget) -> str:
    done = subprocess.run(_argv(target, ["--version"], []), capture_output=True, text=True, timeout=120, check=False)
    m = re.search(r"Falco version:\s*(\S+)", done.stdout + done.stderr)
    return m.group(1) if m else (done.stdout + done.stderr).strip().splitlines()[0] if done.stdout else "unknown"


def run_records(target: FalcoTarget, plugin: str, rules: Sequence[str], records_file: Path, workdir: Path,
                timeout: float = 600.0) -> list[dict[str, Any]]:
    """Every alert Falco raises on `records_file` (JSON lines), as Falco's JSON objects."""
    workdir = workdir.resolve()
    out = workdir / "alerts.jsonl"
    out.unlink(missing_ok=True)
    plugin = str(Path(plugin).resolve())
    rule_paths = [str(Path(r).resolve()) for r in rules]
    cfg = build_config(load_template(False), plugin_path=plugin, open_params=f"file://{records_file.resolve()}",
                       rules=rule_paths, http_url=None)
    cfg["file_output"] = {"enabled": True, "keep_alive": False, "filename": str(out)}
    cfg["json_output"] = True
    cfg["rule_matching"] = "all"
    cfg["priority"] = "debug"
    conf = workdir / "falco-rules-test.yaml"
    conf.write_text(yaml.safe_dump(cfg, sort_keys=False))
    args = ["-c", str(conf), *BASE_ARGS]
    mounts = [str(workdir), plugin, str(records_file.resolve().parent), *[str(Path(r).parent) for r in rule_paths]]
    try:
        done = subprocess.run(_argv(target, args, mounts), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BridgeError(f"Falco did not finish within {timeout:.0f}s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise BridgeError(f"Falco failed (exit {done.returncode}):\n{tail}")
    alerts: list[dict[str, Any]] = []
    if out.exists():
        for line in out.read_text().splitlines():
            if line.strip():
                alerts.append(json.loads(line))
    return [a for a in alerts if a.get("source") != "internal"]


def validate(target: FalcoTarget, plugin: str, rules: Sequence[str], workdir: Path) -> tuple[bool, str]:
    """`falco -V` on every file with the plugin loaded: (ok, Falco's words)."""
    from bridge.falco.runner import run_falco_once

    args: list[str] = []
    for r in rules:
        args += ["-V", str(Path(r).resolve())]
    done = run_falco_once(target, args, plugin_path=plugin, workdir=workdir, rules=rules)
    return done.returncode == 0, (done.stdout or "") + (done.stderr or "")
