"""Every example config in docs/configuration.md is valid, and every source type is documented."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bridge.config import from_dict
from bridge.sources._config import DaemonConfig, source_types

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_examples_are_valid_configs() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 7
    seen = set()
    for text in blocks:
        cfg = from_dict(DaemonConfig, yaml.safe_load(text), "")
        seen |= {s.type for s in cfg.specs()}
    assert seen == set(source_types())  # one example per delivery path


def test_every_source_type_has_a_section() -> None:
    text = DOC.read_text(encoding="utf-8")
    for t in source_types():
        assert f"`type: {t}`" in text


def test_k8s_daemon_manifest_config_is_valid_and_args_parse() -> None:
    from bridge.cli import _parser

    docs = list(yaml.safe_load_all((DOC.parents[1] / "deploy" / "k8s" / "daemon.yaml").read_text()))
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    cfg = from_dict(DaemonConfig, yaml.safe_load(cm["data"]["ctbridge.yaml"]), "")
    assert [s.type for s in cfg.specs()] == ["sqs"] and cfg.ops.listen == "0.0.0.0:9090"
    dep = next(d for d in docs if d["kind"] == "Deployment")
    bridge = next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "bridge")
    args = _parser().parse_args(bridge["args"])
    assert args.command == "run" and args.config == "/etc/ctbridge/ctbridge.yaml"
    assert bridge["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert bridge["ports"][0]["containerPort"] == int(cfg.ops.listen.rsplit(":", 1)[1])
