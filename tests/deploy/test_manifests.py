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


def _docs(name: str) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all((REPO / "deploy" / "k8s" / name).read_text())}


def test_k8s_forward_config_builds_and_its_mounts_hold_what_it_names(tmp_path: Path, monkeypatch: Any) -> None:
    from bridge.commands.forward import IntakeSection
    from bridge.config import from_dict
    from bridge.route.forwarder import build_forwarder

    docs = _docs("forward.yaml")
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    args = _parser().parse_args(container["args"])
    assert args.command == "forward"
    cfg = yaml.safe_load(docs["ConfigMap"]["data"][Path(args.config).name])
    intake = from_dict(IntakeSection, cfg["intake"], "intake")
    assert intake.tls is not None and intake.tls.client_ca, "alerts cross pods: the intake takes mTLS only"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    for f in (intake.tls.cert, intake.tls.key, intake.tls.client_ca, args.config):
        assert str(Path(f).parent) in mounts, f"{f} is on no mounted volume"
    assert str(Path(cfg["queue"]["dir"]).parent) in mounts
    # The destinations build (their secrets come from env, set from a Secret in the manifest).
    env = {e["name"] for e in container["env"]}
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/x")
    assert "SLACK_WEBHOOK_URL" in env
    cfg["queue"]["dir"] = str(tmp_path / "queue")
    for d in cfg["destinations"]:
        if d["type"] == "file":
            d["path"] = str(tmp_path / "alerts.jsonl")
    build_forwarder(cfg).close()
    # The same alert from two daemon replicas is sent once: every destination dedups longer than
    # an SQS message of daemon.yaml can take to come back.
    daemon_cfg = yaml.safe_load(_docs("daemon.yaml")["ConfigMap"]["data"]["ctbridge.yaml"])
    visibility = max(s.get("visibility_timeout", 300) for s in daemon_cfg["sources"] if s["type"] == "sqs")
    assert all(d.get("dedup_window", 0) > visibility for d in cfg["destinations"])


def test_k8s_daemon_replicas_post_to_the_shared_forward_over_mtls() -> None:
    fwd, daemon = _docs("forward.yaml"), _docs("daemon.yaml")
    spec = daemon["Deployment"]["spec"]["template"]["spec"]
    falco = next(c for c in spec["containers"] if c["name"] == "falco")
    opts = dict(falco["command"][i + 1].split("=", 1) for i, a in enumerate(falco["command"]) if a == "-o")
    svc = fwd["Service"]["metadata"]
    port = fwd["Service"]["spec"]["ports"][0]["port"]
    assert opts["http_output.url"] == f"https://{svc['name']}.{svc['namespace']}.svc:{port}/"
    assert opts["http_output.mtls"] == "true"
    mounts = {m["mountPath"] for m in falco["volumeMounts"]}
    for key in ("http_output.ca_cert", "http_output.client_cert", "http_output.client_key"):
        assert str(Path(opts[key]).parent) in mounts, key
    assert daemon["Deployment"]["spec"]["replicas"] > 1
