"""Falco started from falco_config/ as shipped: only the paths that differ on this machine change.

The YAML text goes to Falco's own parser unchanged (no PyYAML round trip), so what is tested is
what a user deploys: init_config spelling, output settings, gRPC keys.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from falco_helpers import REPO, wait_for_socket

FALCO_ARGS = ("-o", "engine.kind=nodriver", "--disable-source", "syscall")  # as falco.yaml's header says


def shipped_config(name: str, workdir: Path, *, plugin: str, rules: Path, http_url: str,
                   init_config: str | None = None) -> Path:
    """falco_config/<name> with this machine's paths; init_config replaces the whole block if given."""
    text = (REPO / "falco_config" / name).read_text(encoding="utf-8")
    for sub in ("ctbridge", "falco"):
        (workdir / sub).mkdir(mode=0o755, exist_ok=True)
    replacements = {
        "/usr/share/falco/plugins/libctbridge.so": plugin,
        "unix:///run/ctbridge/ingest.sock": f"unix://{workdir}/ctbridge/ingest.sock",
        "unix:///run/falco/falco.sock": f"unix://{workdir}/falco/falco.sock",
        "/etc/falco/rules.d": str(rules),
        "http://127.0.0.1:2802/": http_url,
    }
    for old, new in replacements.items():
        if old.startswith("unix:///run/falco/") and "grpc" not in name:
            continue  # only the gRPC variant has a gRPC server
        assert old in text, f"falco_config/{name} no longer mentions {old}; update tests/integration/shipped.py"
        text = text.replace(old, new)
    if init_config is not None:
        start = text.index("    init_config:\n")
        end = text.index("    open_params:")
        text = text[:start] + init_config + text[end:]
    path = workdir / name
    path.write_text(text, encoding="utf-8")
    return path


class ShippedFalco:
    """A Falco process on a shipped config; logs in workdir/falco.log."""

    def __init__(self, binary: str, config: Path, workdir: Path, extra: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.socket = workdir / "ctbridge" / "ingest.sock"
        self.grpc_socket = workdir / "falco" / "falco.sock"
        self.log_path = workdir / "falco.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([binary, "-c", str(config), *FALCO_ARGS, *extra],
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, grpc: bool = False, timeout: float = 60) -> None:
        try:
            wait_for_socket(self.socket, timeout, lambda: self.proc.poll() is None)
            if grpc:
                wait_for_socket(self.grpc_socket, timeout, lambda: self.proc.poll() is None)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.log()[-3000:]}") from e

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return int(self.proc.returncode)
