"""Find a Falco to run against: a running sidecar's socket, a local binary, or Docker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal

from bridge.errors import FalcoNotFound

DEFAULT_IMAGE = "falcosecurity/falco:0.45.0"
DOCKER_INFO_TIMEOUT_S = 5.0
VERSION_TIMEOUT_S = 60.0  # a first `docker run` of an image may have to start it cold

# The last Falco with the gRPC output and server (deprecated in 0.43.0, removed in 0.44.0).
LAST_GRPC_MINOR = (0, 43)

_VERSION_RE = re.compile(r"Falco version:\s*v?(\d+)\.(\d+)\.(\d+)")
_TAG_VERSION_RE = re.compile(r":v?(\d+)\.(\d+)\.(\d+)(?:-[\w.]+)?$")

HOW_TO_GET_FALCO = (
    "no Falco found. Get one of: a Falco binary (set FALCO_BINARY=/path/to/falco, or put `falco` on "
    "PATH; releases are at https://download.falco.org/packages/bin/), Docker with the "
    f"falcosecurity/falco image (e.g. `docker pull {DEFAULT_IMAGE}`; the Docker daemon must be running), "
    "or a running Falco sidecar with the ctbridge plugin, given as --falco-socket /run/ctbridge/ingest.sock"
)


@dataclass(frozen=True)
class FalcoTarget:
    """Where Falco is: a sidecar's plugin socket, a binary to launch, or an image to run."""

    kind: Literal["socket", "binary", "docker"]
    socket: str | None = None
    binary: str | None = None
    image: str | None = None


def locate(
    falco_socket: str | None = None,
    *,
    falco_binary: str | None = None,
    docker_image: str = DEFAULT_IMAGE,
) -> FalcoTarget:
    """The first of: the given sidecar socket; FALCO_BINARY (or falco_binary) or `falco` on PATH; Docker."""
    if falco_socket:
        # The sidecar may still be starting: the delivery stage retries connecting, so the socket
        # file need not exist yet.
        return FalcoTarget(kind="socket", socket=falco_socket)

    binary = falco_binary or os.environ.get("FALCO_BINARY") or None
    if binary:
        resolved = shutil.which(binary)
        if resolved is None:
            raise FalcoNotFound(f"FALCO_BINARY={binary} is not an executable file. {HOW_TO_GET_FALCO}")
        return FalcoTarget(kind="binary", binary=resolved)

    on_path = shutil.which("falco")
    if on_path:
        return FalcoTarget(kind="binary", binary=on_path)

    if docker_available():
        return FalcoTarget(kind="docker", image=docker_image)

    raise FalcoNotFound(HOW_TO_GET_FALCO)


def docker_available(timeout_s: float = DOCKER_INFO_TIMEOUT_S) -> bool:
    """True when the docker CLI exists and its daemon answers `docker info` in time."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        done = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


def parse_version(text: str) -> tuple[int, int, int]:
    """(major, minor, patch) from `falco --version` output ("Falco version: 0.43.1 (x86_64)")."""
    match = _VERSION_RE.search(text)
    if match is None:
        first = text.strip().splitlines()[0] if text.strip() else "(no output)"
        raise FalcoNotFound(f"cannot read a Falco version from `falco --version`: {first!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def falco_version(binary: str) -> tuple[int, int, int]:
    """Run `<binary> --version` and parse it."""
    return parse_version(_run_version([binary, "--version"], binary))


def target_version(target: FalcoTarget) -> tuple[int, int, int]:
    """The version of a binary or docker target. A socket target's Falco is out of reach."""
    if target.kind == "binary" and target.binary:
        return falco_version(target.binary)
    if target.kind == "docker" and target.image:
        docker = shutil.which("docker") or "docker"
        text = _run_version([docker, "run", "--rm", target.image, "/usr/bin/falco", "--version"], target.image)
        return parse_version(text)
    raise FalcoNotFound(f"cannot ask a {target.kind} target for its Falco version")


def image_tag_version(image: str) -> tuple[int, int, int] | None:
    """The version in an image tag like falcosecurity/falco:0.43.1 or :0.43.1-debian, if any."""
    match = _TAG_VERSION_RE.search(image)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def has_grpc_output(version: tuple[int, int, int]) -> bool:
    """gRPC output exists up to Falco 0.43.x."""
    return version[:2] <= LAST_GRPC_MINOR


def _run_version(cmd: list[str], what: str) -> str:
    try:
        done = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise FalcoNotFound(f"{what}: `--version` did not answer within {VERSION_TIMEOUT_S:.0f}s") from exc
    except OSError as exc:
        raise FalcoNotFound(f"{what}: cannot run it: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise FalcoNotFound(f"{what}: `--version` exited with {done.returncode}: {tail[0]}")
    return done.stdout + done.stderr
