"""The deployment files call the bridge with arguments its CLI accepts, and carry no secrets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bridge.cli import _parser

REPO = Path(__file__).resolve().parents[2]


def _k8s_containers() -> dict[str, dict[str, Any]]:
    docs = list(yaml.safe_load_all((REPO / "deploy" / "k8s" / "sidecar.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}


def test_compose_bridge_command_parses() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    args = _parser().parse_args(compose["services"]["bridge"]["command"])
    assert args.command == "replay" and args.falco_socket and args.end_stream


def test_k8s_bridge_args_parse_and_match_falco() -> None:
    containers = _k8s_containers()
    args = _parser().parse_args(containers["bridge"]["args"])
    assert args.command == "run"
    falco_cmd = " ".join(containers["falco"]["command"] + containers["falco"].get("args", []))
    # Falco posts its alerts where the bridge listens (one pod: loopback).
    assert f"http_output.url=http://{args.listen}/" in falco_cmd
    mounts = {m["mountPath"] for m in containers["falco"]["volumeMounts"]}
    assert str(Path(args.falco_socket).parent) in mounts


def test_no_secrets_in_deployment_files() -> None:
    pattern = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}|aws_secret_access_key|AWS_SECRET_ACCESS_KEY|password:", re.I)
    for path in [REPO / "docker-compose.yml", *sorted((REPO / "deploy").rglob("*"))]:
        if path.is_file():
            assert not pattern.search(path.read_text()), f"{path} looks like it holds a credential"
