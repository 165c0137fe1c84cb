"""What the enricher tracks: counters, first-seen sets and sequences, from YAML or the defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bridge.enrich.defaults import DEFAULT_YAML
from bridge.errors import ConfigError


@dataclass(frozen=True)
class Match:
    """Which records a counter, set or sequence step looks at.

    events: "source:name" pairs or bare event names ("" = any); errors: "any", "only" or "none";
    present: JSON pointers that must exist in the record (and not be null or empty);
    equals: JSON pointer -> the string the value must equal (JSON true/false as "true"/"false").
    """

    events: tuple[str, ...] = ()
    errors: str = "any"
    present: tuple[str, ...] = ()
    error_codes: tuple[str, ...] = ()  # with errors "only": which codes count (none listed = all)
    equals: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Counter:
    name: str
    match: Match
    window: int  # seconds
    weight: str = ""  # JSON pointer of an array whose length is the increment (default 1)


@dataclass(frozen=True)
class FirstSeen:
    name: str
    match: Match
    key: tuple[str, ...]  # parts: principal, session (the caller's ARN), region, api, source, srcip, useragent, account


@dataclass(frozen=True)
class Sequence:
    name: str
    steps: tuple[Match, ...]
    window: int  # seconds from the first step to the last


@dataclass(frozen=True)
class EnrichConfig:
    counters: tuple[Counter, ...] = ()
    first_seen: tuple[FirstSeen, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    max_principals: int = 20000  # principals with counter or sequence state (least recent dropped)
    max_keys: int = 200000  # keys per first-seen set (least recent dropped)
    max_events_per_counter: int = 1000  # timestamps kept per principal and counter
    skip_service_principals: bool = True  # AWSService / AWS internal callers are not tracked
    # roles (glob on the role name) whose sessions are counted one by one: a session is a person
    per_session_roles: tuple[str, ...] = ("AWSReservedSSO_*",)


KEY_PARTS = {"principal", "session", "region", "api", "source", "srcip", "useragent", "account"}


def _match(d: Any, where: str) -> Match:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping with 'events'")
    unknown = set(d) - {"events", "errors", "present", "error_codes", "equals"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown, key=repr)} "
                          "(valid: events, errors, present, error_codes, equals)")
    errors = str(d.get("errors", "any"))
    if errors not in ("any", "only", "none"):
        raise ConfigError(f"{where}: errors must be any, only or none, not {errors!r}")
    return Match(
        events=tuple(str(e) for e in d.get("events", ())),
        errors=errors,
        present=tuple(str(p) for p in d.get("present", ())),
        error_codes=tuple(str(c) for c in d.get("error_codes", ())),
        equals=tuple((str(k), str(v).lower() if isinstance(v, bool) else str(v))
                     for k, v in (d.get("equals") or {}).items()),
    )


def parse_config(data: Any) -> EnrichConfig:
    if not isinstance(data, dict):
        raise ConfigError("enrichment config: expected a mapping")
    counters = tuple(
        Counter(str(c["name"]), _match(c.get("match", {}), f"counter {c['name']}"),
                int(c.get("window", 600)), str(c.get("weight", "")))
        for c in data.get("counters", ())
    )
    firsts = []
    for f in data.get("first_seen", ()):
        key = tuple(str(k) for k in f.get("key", ("principal", "api")))
        bad = set(key) - KEY_PARTS
        if bad:
            raise ConfigError(f"first_seen {f.get('name')}: unknown key parts {sorted(bad)} (valid: {sorted(KEY_PARTS)})")
        firsts.append(FirstSeen(str(f["name"]), _match(f.get("match", {}), f"first_seen {f['name']}"), key))
    seqs = tuple(
        Sequence(str(s["name"]), tuple(_match(st, f"sequence {s['name']}") for st in s["steps"]), int(s.get("window", 3600)))
        for s in data.get("sequences", ())
    )
    base = EnrichConfig()
    return EnrichConfig(
        counters=counters, first_seen=tuple(firsts), sequences=seqs,
        max_principals=int(data.get("max_principals", base.max_principals)),
        max_keys=int(data.get("max_keys", base.max_keys)),
        max_events_per_counter=int(data.get("max_events_per_counter", base.max_events_per_counter)),
        skip_service_principals=bool(data.get("skip_service_principals", True)),
        per_session_roles=tuple(str(p) for p in data.get("per_session_roles", base.per_session_roles)),
    )


def load_config(path: str | Path | None = None) -> EnrichConfig:
    """The config in `path`, or the bundled defaults (bridge/enrich/defaults.py)."""
    p = Path(path) if path else Path("<bundled defaults>")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8") if path else DEFAULT_YAML)
    except OSError as exc:
        raise ConfigError(f"enrichment config {p}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"enrichment config {p}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"enrichment config {p}: invalid YAML: {exc}") from exc
    try:
        return parse_config(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"enrichment config {p}: {exc!r}") from exc
