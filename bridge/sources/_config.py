"""The daemon's config file: the top-level schema and the sources list.

Top-level keys (every other key is an error naming the valid ones):
  sources, falco, state, dedup, ops, log, readers, exit_when_idle  -- read by `ctbridge run --config`
  intake, routes, destinations, queue, enrich                       -- owned by the alert-forwarding
                                                                       and enrichment stages; kept as
                                                                       given (DaemonConfig.extra)
Each source is a mapping with `type` (a registered source type), an optional `name` (default
TYPE-INDEX) and the keys of that type's Config dataclass.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.config import _where, from_dict
from bridge.errors import ConfigError
from bridge.registry import load_package
from bridge.sources._base import SOURCES, DaemonSource, SourceContext

OTHER_STAGES = ("intake", "routes", "destinations", "queue", "enrich")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: str | float | int, path: str) -> float:
    """'90s', '15m', '24h', '7d' or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _DURATION.match(str(value))
    if m is None:
        raise ConfigError(f"{_where(path)}: {value!r} is not a duration (e.g. 90s, 15m, 24h, 7d, or seconds)")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class FalcoSection:
    socket: str  # the plugin's unix socket in the running Falco
    intake: Literal["http", "grpc"] = "http"
    listen: str = "127.0.0.1:2802"
    grpc_target: str | None = None
    connect_timeout: float = 0.0  # 0: wait for the plugin as long as it takes (Falco restarts)
    window: int = 8
    batch_events: int = 512
    quiet: float = 2.0  # on exit: wait this long without alerts


@dataclass(frozen=True)
class StateSection:
    path: str = "ctbridge-state.db"
    quarantine_dir: str | None = None


@dataclass(frozen=True)
class DedupSection:
    window: str = "24h"
    max_entries: int = 1_000_000

    @property
    def window_seconds(self) -> float:
        return parse_duration(self.window, "dedup.window")

    def validate(self, path: str) -> None:
        parse_duration(self.window, f"{path}.window")
        if self.max_entries < 2:
            raise ConfigError(f"{_where(path + '.max_entries')}: must be at least 2, got {self.max_entries}")


@dataclass(frozen=True)
class OpsSection:
    listen: str | None = None  # HOST:PORT for /metrics, /healthz, /readyz

    def validate(self, path: str) -> None:
        if self.listen is not None:
            host, sep, port = self.listen.rpartition(":")
            if not sep or not port.isdigit():
                raise ConfigError(f"{_where(path + '.listen')}: {self.listen!r} is not HOST:PORT")


@dataclass(frozen=True)
class LogSection:
    level: str | None = None
    format: Literal["text", "json"] | None = None


@dataclass(frozen=True)
class SourceSpec:
    name: str
    type: str
    config: Any
    path: str


@dataclass(frozen=True)
class DaemonConfig:
    falco: FalcoSection
    sources: list[dict[str, Any]] = field(default_factory=list)
    state: StateSection = field(default_factory=StateSection)
    dedup: DedupSection = field(default_factory=DedupSection)
    ops: OpsSection = field(default_factory=OpsSection)
    log: LogSection = field(default_factory=LogSection)
    readers: int = 4  # Works (S3 objects, messages) read in parallel
    exit_when_idle: bool = False  # stop once every source is done and everything is ACKed
    intake: Any = None
    routes: Any = None
    destinations: Any = None
    queue: Any = None
    enrich: Any = None

    def validate(self, path: str) -> None:
        if not self.sources:
            raise ConfigError(f"{_where('sources')}: at least one source is required "
                              f"(types: {', '.join(source_types())})")
        if self.readers < 1:
            raise ConfigError(f"{_where('readers')}: must be at least 1, got {self.readers}")
        self.specs()  # every source's own keys are checked at load time

    def specs(self) -> list[SourceSpec]:
        load_package("bridge.sources")
        out: list[SourceSpec] = []
        names: set[str] = set()
        for i, raw in enumerate(self.sources):
            path = f"sources[{i}]"
            if not isinstance(raw, dict):
                raise ConfigError(f"{_where(path)}: must be a mapping with a type, got {raw!r}")
            kind = raw.get("type")
            if not isinstance(kind, str):
                raise ConfigError(f"{_where(path + '.type')}: required (one of: {', '.join(source_types())})")
            factory = SOURCES.get(kind, where=f"{path}.type")
            name = raw.get("name", f"{kind}-{i}")
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{_where(path + '.name')}: must be a non-empty string, got {name!r}")
            if name in names:
                raise ConfigError(f"{_where(path + '.name')}: {name!r} is used by another source")
            names.add(name)
            rest = {k: v for k, v in raw.items() if k not in ("type", "name")}
            out.append(SourceSpec(name, kind, from_dict(factory.Config, rest, path), path))
        return out


def source_types() -> list[str]:
    load_package("bridge.sources")
    return SOURCES.names()


def build_sources(raw: list[dict[str, Any]], ctx: SourceContext) -> list[DaemonSource]:
    load_package("bridge.sources")
    cfg = DaemonConfig(falco=FalcoSection(socket="-"), sources=raw)
    return [SOURCES.get(s.type)(s.name, s.config, ctx) for s in cfg.specs()]


def config_fields(cls: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]
