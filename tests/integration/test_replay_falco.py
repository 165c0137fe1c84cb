"""samples/seed through the real ctbridge plugin in a real Falco: exactly the expected alerts.

Three ways in: a Falco sidecar container the bridge connects to (--falco-socket), Falco launched by
the bridge itself (FALCO_BINARY or Docker), and Falco reading the sample file on its own (file://).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from falco_helpers import (
    REPO,
    RULES,
    SEED,
    Expected,
    assert_alerts,
    free_port,
    read_alerts,
    run_bridge,
    wait_for_socket,
)

from bridge.errors import BridgeError
from bridge.falco.locate import FalcoTarget, has_grpc_output
from bridge.falco.runner import FalcoRun, run_falco_once, validate_rules

pytestmark = pytest.mark.integration

RULE_FILES = sorted(RULES.glob("*.yaml"))
# 00_*.yaml hold the lists and macros the themed files share; Falco loads a rules directory in
# name order, so every other file is validated after them.
COMMON = [p for p in RULE_FILES if p.name.startswith("00_")]
CONTAINER_PLUGIN = "/usr/share/falco/plugins/libctbridge.so"


def sidecar(image: str, plugin: str, sock_dir: Path, *, grpc: bool, http_url: str | None):  # type: ignore[no-untyped-def]
    """Falco as the deployment runs it: falco_config/ and rules/ mounted as they are, plugin-only."""
    from testcontainers.core.container import DockerContainer

    config = "falco-grpc.yaml" if grpc else "falco.yaml"
    command = ["/usr/bin/falco", "-c", "/etc/falco/falco.yaml", "-o", "engine.kind=nodriver",
               "--disable-source", "syscall"]
    if http_url:
        command += ["-o", "http_output.enabled=true", "-o", f"http_output.url={http_url}"]
    container = (
        DockerContainer(image)
        .with_kwargs(network_mode="host", user=f"{os.getuid()}:{os.getgid()}")
        .with_volume_mapping(str(REPO / "falco_config" / config), "/etc/falco/falco.yaml", "ro")
        .with_volume_mapping(plugin, CONTAINER_PLUGIN, "ro")
        .with_volume_mapping(str(RULES), "/etc/falco/rules.d", "ro")
        .with_volume_mapping(str(sock_dir / "ctbridge"), "/run/ctbridge", "rw")
        .with_command(command)
    )
    if grpc:
        container = container.with_volume_mapping(str(sock_dir / "falco"), "/run/falco", "rw")
    return container


def run_sidecar_replay(image: str, plugin: str, tmp: Path, expected: Expected, *, grpc: bool) -> None:
    for sub in ("ctbridge", "falco"):
        (tmp / sub).mkdir(mode=0o755)
    port = free_port()
    http_url = None if grpc else f"http://127.0.0.1:{port}/"
    container = sidecar(image, plugin, tmp, grpc=grpc, http_url=http_url)
    container.start()
    try:
        wrapped = container.get_wrapped_container()

        def alive() -> bool:
            wrapped.reload()
            return bool(wrapped.status in ("created", "running"))

        sock = tmp / "ctbridge" / "ingest.sock"
        try:
            wait_for_socket(sock, 120, alive)
            if grpc:
                wait_for_socket(tmp / "falco" / "falco.sock", 60, alive)
        except AssertionError as exc:
            _, err = container.get_logs()
            raise AssertionError(f"{exc}\n{err.decode(errors='replace')[-3000:]}") from exc
        args = [str(SEED), "--rules", str(RULES), "--plugin", plugin, "--falco-socket", str(sock),
                "--end-stream"]
        if grpc:
            args += ["--intake", "grpc", "--grpc-target", f"unix://{tmp / 'falco' / 'falco.sock'}"]
        else:
            args += ["--listen", f"127.0.0.1:{port}"]
        alerts = run_bridge(args, tmp / "alerts.jsonl")
        assert_alerts(alerts, expected.alerts)
        status = wrapped.wait(timeout=120)  # the plugin returns EOF after the bridge's END
        assert status["StatusCode"] == 0, container.get_logs()[1].decode(errors="replace")[-3000:]
    finally:
        container.stop()


def test_image_045_sidecar_http(image_http: str, plugin_path: str, short_tmp: Path, expected: Expected) -> None:
    run_sidecar_replay(image_http, plugin_path, short_tmp, expected, grpc=False)


def test_image_0431_sidecar_grpc(image_grpc: str, plugin_path: str, short_tmp: Path, expected: Expected) -> None:
    run_sidecar_replay(image_grpc, plugin_path, short_tmp, expected, grpc=True)


def test_binary_http(
    falco_binary: tuple[str, tuple[int, int, int]], plugin_path: str, tmp_path: Path, expected: Expected
) -> None:
    binary, _ = falco_binary
    alerts = run_bridge([str(SEED), "--rules", str(RULES), "--plugin", plugin_path], tmp_path / "alerts.jsonl",
                        env={**os.environ, "FALCO_BINARY": binary})
    assert_alerts(alerts, expected.alerts)


def test_binary_grpc(
    falco_binary: tuple[str, tuple[int, int, int]], plugin_path: str, tmp_path: Path, expected: Expected
) -> None:
    binary, version = falco_binary
    if not has_grpc_output(version):
        pytest.skip(f"Falco {'.'.join(map(str, version))} has no gRPC output (removed in 0.44)")
    alerts = run_bridge([str(SEED), "--rules", str(RULES), "--plugin", plugin_path, "--intake", "grpc"],
                        tmp_path / "alerts.jsonl", env={**os.environ, "FALCO_BINARY": binary})
    assert_alerts(alerts, expected.alerts)


def test_bridge_launches_docker_falco(image_http: str, plugin_path: str, tmp_path: Path, expected: Expected) -> None:
    # No binary anywhere: locate() falls through to Docker and the default image.
    if shutil.which("falco") is not None:
        pytest.skip("a `falco` on PATH would be chosen before Docker")
    env = {k: v for k, v in os.environ.items() if k != "FALCO_BINARY"}
    alerts = run_bridge([str(SEED), "--rules", str(RULES), "--plugin", plugin_path], tmp_path / "alerts.jsonl",
                        env=env)
    assert_alerts(alerts, expected.alerts)


@pytest.mark.parametrize("rules_file", RULE_FILES, ids=lambda p: p.name)
def test_falco_validates_each_rules_file(
    falco_target: FalcoTarget, plugin_path: str, short_tmp: Path, rules_file: Path
) -> None:
    files = [str(p) for p in COMMON if p != rules_file] + [str(rules_file)]
    text = validate_rules(falco_target, plugin_path=plugin_path, rules=files, workdir=short_tmp)
    assert rules_file.name in text


def test_falco_validates_all_rules_together(falco_target: FalcoTarget, plugin_path: str, short_tmp: Path) -> None:
    validate_rules(falco_target, plugin_path=plugin_path, rules=[str(p) for p in RULE_FILES], workdir=short_tmp)


def test_falco_rejects_unknown_field(falco_target: FalcoTarget, plugin_path: str, short_tmp: Path) -> None:
    bad = short_tmp / "bad.yaml"
    bad.write_text(
        "- required_engine_version: 0.10.0\n"
        "- rule: Bad\n  desc: d\n  condition: ct.nosuchfield = x\n  output: o\n  priority: INFO\n"
        "  source: aws_cloudtrail\n"
    )
    with pytest.raises(BridgeError, match="nosuchfield"):
        validate_rules(falco_target, plugin_path=plugin_path, rules=[str(bad)], workdir=short_tmp / "w")


def test_falco_lists_plugin_and_fields(falco_target: FalcoTarget, plugin_path: str, short_tmp: Path) -> None:
    info = run_falco_once(falco_target, ["--plugin-info", "ctbridge"], plugin_path=plugin_path, workdir=short_tmp)
    text = info.stdout + info.stderr
    assert info.returncode == 0, text[-3000:]
    assert "ctbridge" in text and "0.1.0" in text
    fields = run_falco_once(falco_target, ["--list=aws_cloudtrail", "-N"], plugin_path=plugin_path, workdir=short_tmp)
    names = set(fields.stdout.split())
    assert fields.returncode == 0, (fields.stdout + fields.stderr)[-3000:]
    for name in ("ct.user.arn", "ct.srcip", "ct.region", "s3.bucket", "ec2.imageids", "iam.policy"):
        assert name in names
    assert any(n.startswith("ctb.value") for n in names)


def test_falco_reads_sample_file_directly(
    falco_target: FalcoTarget, plugin_path: str, short_tmp: Path, expected: Expected
) -> None:
    # No bridge: the plugin's own file:// source reads the CloudTrail log file.
    log = SEED / expected.inputs["cloudtrail"]
    out = short_tmp / "alerts.jsonl"
    run = FalcoRun(
        falco_target, plugin_path=plugin_path, rules=[str(RULES)], http_url=None, workdir=short_tmp,
        open_params=f"file://{log}",
        extra_options=["-o", "file_output.enabled=true", "-o", f"file_output.filename={out}"],
    )
    with run:
        assert run.wait(timeout=180) == 0, run.log_text()[-3000:]
    assert_alerts(read_alerts(out), expected.for_inputs("cloudtrail"))
