"""Routes: which destinations an alert goes to. Every matching route adds its destinations; the
default route(s) apply only when nothing else matched.

Rule and field patterns are globs (`Delete Bucket*`), or regular expressions when written
`re:<pattern>` (full match). All conditions of a route must hold; within a list any one is enough.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from bridge.config import _where
from bridge.errors import ConfigError
from bridge.model import PRIORITIES, Alert, normalize_priority
from bridge.route.template import field_value

_RANK = {p: i for i, p in enumerate(PRIORITIES)}  # 0 = Emergency


@dataclass(frozen=True)
class RouteConfig:
    to: list[str]
    name: str = ""
    min_priority: str | None = None
    rules: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # any of these
    sources: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)  # output field -> glob / re:
    default: bool = False

    def validate(self, path: str) -> None:
        if self.min_priority is not None and normalize_priority(self.min_priority) not in _RANK:
            raise ConfigError(f"{_where(path + '.min_priority')}: {self.min_priority!r} is not one of "
                              f"{', '.join(PRIORITIES)}")
        if not self.to:
            raise ConfigError(f"{_where(path + '.to')}: name at least one destination")
        for i, pat in enumerate([*self.rules, *self.fields.values()]):
            if pat.startswith("re:"):
                try:
                    re.compile(pat[3:])
                except re.error as e:
                    raise ConfigError(f"{path}: bad regular expression {pat!r} ({e})") from None


def _pattern(pat: str) -> re.Pattern[str]:
    if pat.startswith("re:"):
        return re.compile(pat[3:])
    return re.compile(fnmatch.translate(pat))


class Route:
    def __init__(self, cfg: RouteConfig) -> None:
        self.cfg = cfg
        self.to = tuple(cfg.to)
        self._rank = _RANK[normalize_priority(cfg.min_priority)] if cfg.min_priority else None
        self._rules = [_pattern(p) for p in cfg.rules]
        self._tags = frozenset(cfg.tags)
        self._sources = frozenset(cfg.sources)
        self._fields = [(k, _pattern(v)) for k, v in cfg.fields.items()]

    def matches(self, alert: Alert) -> bool:
        if self._rank is not None and _RANK.get(alert.priority, len(_RANK)) > self._rank:
            return False
        if self._rules and not any(p.fullmatch(alert.rule) for p in self._rules):
            return False
        if self._tags and self._tags.isdisjoint(alert.tags):
            return False
        if self._sources and alert.source not in self._sources:
            return False
        for name, pat in self._fields:
            value = field_value(alert, name)
            if value is None or not pat.fullmatch(str(value)):
                return False
        return True


class Router:
    def __init__(self, routes: list[RouteConfig]) -> None:
        self.routes = [Route(r) for r in routes if not r.default]
        self.defaults = [Route(r) for r in routes if r.default]

    def destinations(self, alert: Alert) -> list[str]:
        """Destination names in config order, each once."""
        out: dict[str, None] = {}
        for r in self.routes:
            if r.matches(alert):
                out.update(dict.fromkeys(r.to))
        if not out:
            for r in self.defaults:
                if r.matches(alert):
                    out.update(dict.fromkeys(r.to))
        return list(out)
