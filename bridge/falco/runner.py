"""Launch Falco (a local binary or the falcosecurity/falco image) with the ctbridge plugin.

The config is derived from falco_config/falco.yaml (falco-grpc.yaml for the gRPC intake): this
module sets only what differs per run (plugin path, open_params, alert URL, rules, gRPC socket).
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import stat
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import yaml

from bridge import resources
from bridge.errors import BridgeError, ConfigError
from bridge.falco.locate import FalcoTarget

CONFIG_DIR_ENV = resources.FALCO_CONFIG_ENV
PLUGIN_NAME = "ctbridge"
START_TIMEOUT_S = 120.0  # generous: a cold `docker run` can take a while before Falco starts
STOP_GRACE_S = 10.0
LOG_TAIL_LINES = 25
SUN_PATH_MAX = 107  # unix socket paths longer than this do not fit in sockaddr_un

BASE_ARGS = ("-o", "engine.kind=nodriver", "--disable-source", "syscall")


def config_dir() -> Path:
    """falco_config/: $CTBRIDGE_FALCO_CONFIG_DIR, else the package's copy, else the source tree's."""
    return resources.falco_config_dir()


def load_template(grpc: bool) -> dict[str, Any]:
    path = config_dir() / ("falco-grpc.yaml" if grpc else "falco.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the Falco config template: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top")
    return data


def build_config(
    template: dict[str, Any],
    *,
    plugin_path: str,
    open_params: str,
    rules: Sequence[str],
    http_url: str | None,
    grpc_socket: str | None = None,
    init_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A copy of the template with this run's settings."""
    cfg = copy.deepcopy(template)
    plugins = [p for p in cfg.get("plugins") or [] if isinstance(p, dict) and p.get("name") == PLUGIN_NAME]
    if not plugins:
        raise ConfigError(f"Falco config template has no plugins entry named {PLUGIN_NAME!r}")
    entry = plugins[0]
    entry["library_path"] = plugin_path
    entry["open_params"] = open_params
    merged = dict(entry.get("init_config") or {})
    merged.update(init_config or {})
    entry["init_config"] = merged
    cfg["plugins"] = [entry]
    cfg["load_plugins"] = [PLUGIN_NAME]
    cfg["rules_files"] = list(rules)
    http = dict(cfg.get("http_output") or {})
    http["enabled"] = http_url is not None
    if http_url is not None:
        http["url"] = http_url
    cfg["http_output"] = http
    if grpc_socket is not None:
        cfg["grpc"] = {**(cfg.get("grpc") or {}), "enabled": True, "bind_address": f"unix://{grpc_socket}"}
        cfg["grpc_output"] = {"enabled": True}
    return cfg


def _abs_existing(path: str | os.PathLike[str], what: str) -> str:
    resolved = Path(path).expanduser().resolve()
    if not resolved.exists():
        raise ConfigError(f"{what} not found: {path}")
    return str(resolved)


def _argv(target: FalcoTarget, falco_args: Sequence[str], mounts: Sequence[tuple[str, bool]], name: str) -> list[str]:
    """The command line that runs Falco with these arguments, on the host or in the image.

    Docker runs with the host network (http_output reaches the bridge on 127.0.0.1) and the caller's
    uid/gid (so the plugin's socket file belongs to the caller); every path is mounted at the same
    location, so the config needs no translation.
    """
    if target.kind == "binary" and target.binary:
        return [target.binary, *falco_args]
    if target.kind == "docker" and target.image:
        docker = shutil.which("docker") or "docker"
        argv = [docker, "run", "--rm", "--name", name, "--network", "host", "--user", f"{os.getuid()}:{os.getgid()}"]
        seen: set[str] = set()
        for path, writable in mounts:
            if path in seen:
                continue
            seen.add(path)
            argv += ["-v", f"{path}:{path}:{'rw' if writable else 'ro'}"]
        return [*argv, target.image, "/usr/bin/falco", *falco_args]
    raise ConfigError(f"cannot launch Falco for a {target.kind!r} target (a sidecar is already running)")


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class FalcoRun:
    """One Falco process with the ctbridge plugin, as a context manager.

    On enter it starts Falco and, for a unix:// source, waits until the plugin's socket (and the
    gRPC socket, when asked for) exists; if Falco exits first (a rules error, a bad config) it
    raises BridgeError with the end of Falco's log. Logs go to falco.stdout.log / falco.stderr.log
    in workdir.
    """

    def __init__(
        self,
        target: FalcoTarget,
        *,
        plugin_path: str,
        rules: Sequence[str],
        http_url: str | None,
        workdir: Path,
        grpc: bool = False,
        init_config: dict[str, Any] | None = None,
        extra_options: Sequence[str] = (),
        open_params: str | None = None,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        if target.kind == "socket":
            raise ConfigError("a socket target is a running Falco sidecar; there is nothing to launch")
        self.target = target
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.plugin_path = _abs_existing(plugin_path, "plugin library (build it with `make plugin`)")
        self.rules = [_abs_existing(r, "rules file") for r in rules]
        self.socket_path = self.workdir / "ingest.sock"
        self.grpc_socket = self.workdir / "falco.sock" if grpc else None
        for sock in (self.socket_path, self.grpc_socket):
            if sock is not None and len(str(sock)) > SUN_PATH_MAX:
                raise ConfigError(f"workdir path too long for a unix socket ({len(str(sock))} > {SUN_PATH_MAX}): {sock}")
        self.open_params = open_params or f"unix://{self.socket_path}"
        self._waits_for_socket = self.open_params.startswith("unix://")
        self._extra_mounts: list[tuple[str, bool]] = []
        if self.open_params.startswith("file://"):
            self._extra_mounts.append((_abs_existing(self.open_params[len("file://"):], "open_params input"), False))
        self.config_path = self.workdir / ("falco-grpc.yaml" if grpc else "falco.yaml")
        config = build_config(
            load_template(grpc),
            plugin_path=self.plugin_path,
            open_params=self.open_params,
            rules=self.rules,
            http_url=http_url,
            grpc_socket=str(self.grpc_socket) if self.grpc_socket else None,
            init_config=init_config,
        )
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.extra_options = list(extra_options)
        self.start_timeout = start_timeout
        self.container_name = f"ctbridge-falco-{uuid.uuid4().hex[:12]}"
        self.stdout_path = self.workdir / "falco.stdout.log"
        self.stderr_path = self.workdir / "falco.stderr.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []

    @property
    def grpc_target(self) -> str | None:
        """gRPC address of Falco's outputs service (unix://...), when started with grpc=True."""
        return f"unix://{self.grpc_socket}" if self.grpc_socket else None

    @property
    def argv(self) -> list[str]:
        falco_args = ["-c", str(self.config_path), *BASE_ARGS]
        for rule in self.rules:
            falco_args += ["-r", rule]
        falco_args += self.extra_options
        mounts = [(str(self.workdir), True), (self.plugin_path, False), *[(r, False) for r in self.rules]]
        return _argv(self.target, falco_args, [*mounts, *self._extra_mounts], self.container_name)

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def __enter__(self) -> Self:
        self.start()
        try:
            if self._waits_for_socket:
                self._wait_ready()
        except BaseException:
            self.terminate()
            self._close_logs()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.terminate()
        self._close_logs()

    def start(self) -> None:
        if self._proc is not None:
            raise BridgeError("Falco was already started for this run")
        for stale in (self.socket_path, self.grpc_socket):
            if stale is not None and stale.exists():
                stale.unlink()
        out = open(self.stdout_path, "wb")  # noqa: SIM115 - closed in _close_logs
        err = open(self.stderr_path, "wb")  # noqa: SIM115
        self._logs = [out, err]
        try:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        except OSError as exc:
            self._close_logs()
            raise BridgeError(f"cannot start Falco ({self.argv[0]}): {exc.strerror or exc}") from exc

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        wanted = [p for p in (self.socket_path, self.grpc_socket) if p is not None]
        while True:
            rc = self.returncode
            if rc is not None:
                raise BridgeError(
                    f"Falco exited with code {rc} before the plugin opened {self.socket_path}:\n"
                    f"{_tail(self.log_text())}"
                )
            if all(_is_socket(p) for p in wanted):
                return
            if time.monotonic() > deadline:
                raise BridgeError(
                    f"Falco did not open {', '.join(map(str, wanted))} within {self.start_timeout:.0f}s:\n"
                    f"{_tail(self.log_text())}"
                )
            time.sleep(0.05)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for Falco to exit (it does once the plugin returns EOF); TimeoutError if it does not."""
        if self._proc is None:
            raise BridgeError("Falco was not started")
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"Falco still running after {timeout}s") from exc

    def terminate(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM (Falco drains its outputs), then SIGKILL after grace_s. Safe to call twice."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        if self.target.kind == "docker":
            self._docker(["kill", "--signal", "TERM", self.container_name])
        else:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            pass
        if self.target.kind == "docker":
            self._docker(["rm", "-f", self.container_name])
        proc.kill()
        proc.wait(timeout=grace_s)

    def log_text(self) -> str:
        """Falco's stderr then stdout so far (its own log lines, never secrets: no env is logged)."""
        parts = []
        for path in (self.stderr_path, self.stdout_path):
            try:
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
            except FileNotFoundError:
                continue
        return "\n".join(p for p in parts if p)

    def _docker(self, args: list[str]) -> None:
        docker = shutil.which("docker") or "docker"
        try:
            subprocess.run([docker, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass  # best effort: the caller falls back to killing the client process

    def _close_logs(self) -> None:
        for handle in self._logs:
            handle.close()
        self._logs = []


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


def run_falco_once(
    target: FalcoTarget,
    falco_args: Sequence[str],
    *,
    plugin_path: str,
    workdir: Path,
    rules: Sequence[str] = (),
    timeout: float = START_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run a short Falco command (-V, --list, --plugin-info) with the ctbridge plugin configured."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    plugin = _abs_existing(plugin_path, "plugin library (build it with `make plugin`)")
    rule_paths = [_abs_existing(r, "rules file") for r in rules]
    config_path = workdir / "falco-once.yaml"
    config = build_config(
        load_template(False),
        plugin_path=plugin,
        open_params=f"unix://{workdir / 'unused.sock'}",
        rules=rule_paths,
        http_url=None,
    )
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    mounts = [(str(workdir), True), (plugin, False), *[(r, False) for r in rule_paths]]
    argv = _argv(target, ["-c", str(config_path), *falco_args], mounts, f"ctbridge-falco-{uuid.uuid4().hex[:12]}")
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BridgeError(f"`falco {' '.join(falco_args)}` did not finish within {timeout:.0f}s") from exc
    except OSError as exc:
        raise BridgeError(f"cannot run Falco ({argv[0]}): {exc.strerror or exc}") from exc


def validate_rules(target: FalcoTarget, *, plugin_path: str, rules: Sequence[str], workdir: Path) -> str:
    """`falco -V` every rules file with the plugin loaded; BridgeError with Falco's words if any fails."""
    args: list[str] = []
    for rule in rules:
        args += ["-V", str(Path(rule).resolve())]
    done = run_falco_once(target, args, plugin_path=plugin_path, workdir=workdir, rules=rules)
    text = (done.stdout or "") + (done.stderr or "")
    if done.returncode != 0:
        raise BridgeError(f"Falco rejected the rules (exit {done.returncode}):\n{_tail(text)}")
    return text
