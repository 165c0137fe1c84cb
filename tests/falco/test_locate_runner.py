"""bridge.falco: finding Falco and the FalcoRun lifecycle.

The fake `falco` below is a small script standing in for the real Falco binary: it reads the
config FalcoRun wrote and binds the plugin's unix socket the way the ctbridge plugin does. The
real Falco (binary and images) is exercised by tests/integration/test_replay_falco.py.
"""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from bridge.errors import BridgeError, ConfigError, FalcoNotFound
from bridge.falco import locate as loc
from bridge.falco.locate import FalcoTarget, has_grpc_output, image_tag_version, locate, parse_version
from bridge.falco.runner import FalcoRun, build_config, load_template

REPO = Path(__file__).resolve().parents[2]

FAKE_FALCO = textwrap.dedent(
    """\
    #!{python}
    import os, signal, socket, sys, time, yaml
    args = sys.argv[1:]
    if args == ["--version"]:
        print("Falco version: 0.43.1 (x86_64)")
        sys.exit(0)
    cfg = yaml.safe_load(open(args[args.index("-c") + 1]))
    if os.environ.get("FAKE_FALCO_FAIL"):
        sys.stderr.write("Error: rules file bad.yaml: LOAD_ERR_COMPILE_CONDITION\\n")
        sys.exit(1)
    path = cfg["plugins"][0]["open_params"][len("unix://"):]
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    sys.stderr.write("Opening 'aws_cloudtrail' source with plugin 'ctbridge'\\n")
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(0.05)
    """
)


@pytest.fixture()
def fake_falco(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "falco"
    path.parent.mkdir()
    path.write_text(FAKE_FALCO.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture()
def plugin_file(tmp_path: Path) -> Path:
    # FalcoRun only checks that the library exists; the fake Falco never loads it.
    path = tmp_path / "libctbridge.so"
    path.write_bytes(b"\x7fELF")
    return path


def test_socket_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FALCO_BINARY", "/nonexistent/falco")
    assert locate("/run/ctbridge/ingest.sock") == FalcoTarget(kind="socket", socket="/run/ctbridge/ingest.sock")


def test_falco_binary_env(monkeypatch: pytest.MonkeyPatch, fake_falco: Path) -> None:
    monkeypatch.setenv("FALCO_BINARY", str(fake_falco))
    assert locate() == FalcoTarget(kind="binary", binary=str(fake_falco))


def test_bad_falco_binary_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FALCO_BINARY", "/nonexistent/falco")
    with pytest.raises(FalcoNotFound, match="FALCO_BINARY=/nonexistent/falco"):
        locate()


def test_falco_on_path(monkeypatch: pytest.MonkeyPatch, fake_falco: Path) -> None:
    monkeypatch.delenv("FALCO_BINARY", raising=False)
    monkeypatch.setenv("PATH", str(fake_falco.parent))
    assert locate() == FalcoTarget(kind="binary", binary=str(fake_falco))


def test_docker_then_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FALCO_BINARY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # neither falco nor docker
    with pytest.raises(FalcoNotFound) as err:
        locate()
    text = str(err.value)
    for hint in ("FALCO_BINARY=", "download.falco.org", "falcosecurity/falco", "--falco-socket"):
        assert hint in text
    monkeypatch.setattr(loc, "docker_available", lambda timeout_s=5.0: True)
    assert locate(docker_image="falcosecurity/falco:0.43.1") == FalcoTarget(
        kind="docker", image="falcosecurity/falco:0.43.1"
    )


def test_docker_without_daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A docker CLI whose daemon is down: `docker info` fails, so Docker does not count.
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert loc.docker_available() is False


def test_versions(fake_falco: Path) -> None:
    assert parse_version("Falco version: 0.38.0 (x86_64)\nLibs version: 0.17.0") == (0, 38, 0)
    assert parse_version("Falco version: 0.44.0-12+3a1b2c (aarch64)") == (0, 44, 0)
    with pytest.raises(FalcoNotFound, match="cannot read a Falco version"):
        parse_version("command not found")
    assert loc.falco_version(str(fake_falco)) == (0, 43, 1)
    assert has_grpc_output((0, 43, 1)) and has_grpc_output((0, 38, 0))
    assert not has_grpc_output((0, 44, 0)) and not has_grpc_output((0, 45, 0))
    assert image_tag_version("falcosecurity/falco:0.43.1") == (0, 43, 1)
    assert image_tag_version("falcosecurity/falco:0.43.1-debian") == (0, 43, 1)
    assert image_tag_version("falcosecurity/falco:latest") is None


def test_build_config_sets_run_values() -> None:
    cfg = build_config(
        load_template(False),
        plugin_path="/x/libctbridge.so",
        open_params="unix:///w/ingest.sock",
        rules=["/r/a.yaml"],
        http_url="http://127.0.0.1:4000/",
        init_config={"maxBatchEvents": 64},
    )
    (plugin,) = cfg["plugins"]
    assert plugin["library_path"] == "/x/libctbridge.so"
    assert plugin["open_params"] == "unix:///w/ingest.sock"
    assert plugin["init_config"]["maxBatchEvents"] == 64
    assert plugin["init_config"]["skipInsights"] is True  # template values kept
    assert cfg["http_output"] == {"enabled": True, "url": "http://127.0.0.1:4000/", "user_agent": "falcosecurity/falco"}
    assert cfg["rules_files"] == ["/r/a.yaml"]
    assert cfg["json_output"] is True and "grpc" not in cfg

    grpc = build_config(
        load_template(True), plugin_path="/x.so", open_params="unix:///w/i.sock", rules=[], http_url=None,
        grpc_socket="/w/falco.sock",
    )
    assert grpc["grpc"]["bind_address"] == "unix:///w/falco.sock" and grpc["grpc_output"]["enabled"] is True
    assert grpc["json_output"] is False and grpc["http_output"]["enabled"] is False


def test_grpc_template_is_http_template_plus_grpc() -> None:
    http = yaml.safe_load((REPO / "falco_config/falco.yaml").read_text())
    grpc = yaml.safe_load((REPO / "falco_config/falco-grpc.yaml").read_text())
    assert set(grpc) - set(http) == {"grpc", "grpc_output"}
    assert {k for k in http if http[k] != grpc[k]} == {"json_output", "http_output"}


def test_run_waits_for_socket_and_stops(tmp_path: Path, fake_falco: Path, plugin_file: Path) -> None:
    target = FalcoTarget(kind="binary", binary=str(fake_falco))
    run = FalcoRun(
        target, plugin_path=str(plugin_file), rules=[str(REPO / "rules")], http_url="http://127.0.0.1:9/",
        workdir=tmp_path / "w",
    )
    with run:
        assert stat.S_ISSOCK(os.stat(run.socket_path).st_mode)
        assert run.returncode is None
        assert run.grpc_target is None
        written = yaml.safe_load(run.config_path.read_text())
        assert written["plugins"][0]["open_params"] == f"unix://{run.socket_path}"
        assert written["plugins"][0]["library_path"] == str(plugin_file)
        assert run.argv[1:] == [
            "-c", str(run.config_path), "-o", "engine.kind=nodriver", "--disable-source", "syscall",
            "-r", str(REPO / "rules"),
        ]
    assert run.returncode == 0  # SIGTERM honoured
    assert "Opening 'aws_cloudtrail' source" in run.log_text()


def test_early_exit_raises_with_log(
    tmp_path: Path, fake_falco: Path, plugin_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FALCO_FAIL", "1")
    run = FalcoRun(
        FalcoTarget(kind="binary", binary=str(fake_falco)), plugin_path=str(plugin_file), rules=[],
        http_url=None, workdir=tmp_path / "w",
    )
    with pytest.raises(BridgeError, match="(?s)exited with code 1.*LOAD_ERR_COMPILE_CONDITION"), run:
        pass


def test_docker_command_mounts_same_paths(tmp_path: Path, plugin_file: Path) -> None:
    run = FalcoRun(
        FalcoTarget(kind="docker", image="falcosecurity/falco:0.45.0"), plugin_path=str(plugin_file),
        rules=[str(REPO / "rules")], http_url="http://127.0.0.1:9/", workdir=tmp_path / "w", grpc=True,
    )
    argv = run.argv
    assert argv[1:3] == ["run", "--rm"]
    assert ["--network", "host"] == argv[argv.index("--network"):argv.index("--network") + 2]
    assert f"{os.getuid()}:{os.getgid()}" in argv
    for path, mode in ((run.workdir, "rw"), (plugin_file, "ro"), (REPO / "rules", "ro")):
        assert f"{path}:{path}:{mode}" in argv
    image_at = argv.index("falcosecurity/falco:0.45.0")
    assert argv[image_at + 1:image_at + 4] == ["/usr/bin/falco", "-c", str(run.config_path)]
    assert run.grpc_target == f"unix://{run.workdir}/falco.sock"


def test_bad_inputs_are_config_errors(tmp_path: Path, plugin_file: Path) -> None:
    binary = FalcoTarget(kind="binary", binary="/bin/true")
    with pytest.raises(ConfigError, match="plugin library"):
        FalcoRun(binary, plugin_path=str(tmp_path / "nope.so"), rules=[], http_url=None, workdir=tmp_path)
    with pytest.raises(ConfigError, match="rules file not found"):
        FalcoRun(binary, plugin_path=str(plugin_file), rules=[str(tmp_path / "x.yaml")], http_url=None, workdir=tmp_path)
    with pytest.raises(ConfigError, match="too long"):
        FalcoRun(binary, plugin_path=str(plugin_file), rules=[], http_url=None, workdir=tmp_path / ("d" * 120))
    with pytest.raises(ConfigError, match="sidecar"):
        FalcoRun(FalcoTarget(kind="socket", socket="/s"), plugin_path=str(plugin_file), rules=[], http_url=None,
                 workdir=tmp_path)
