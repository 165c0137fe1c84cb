"""The only types that cross stage boundaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Falco writes priorities Capitalized in JSON and as upper-case enum names over gRPC.
PRIORITIES = ("Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug")
_PRIORITY_BY_LOWER = {p.lower(): p for p in PRIORITIES} | {"info": "Informational"}


def normalize_priority(value: str) -> str:
    """'WARNING', 'warning', 'Warning' -> 'Warning'; unknown text is kept as given."""
    return _PRIORITY_BY_LOWER.get(value.strip().lower(), value)


@dataclass(frozen=True, slots=True)
class Blob:
    """One input object as read by a source (a file, an S3 object), not yet decoded."""

    name: str  # where it came from; its suffix (.gz, .jsonl) tells normalize how to decode it
    data: bytes


@dataclass(frozen=True, slots=True)
class Record:
    """One CloudTrail record on its way to the plugin."""

    raw: bytes  # one CloudTrail record, a compact JSON object
    ts_ns: int  # eventTime in nanoseconds since the epoch
    origin: str  # where it came from, e.g. "logs/a.json.gz#12", for errors and quarantine
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class BadItem:
    """Input that could not become a Record; it is quarantined, never silently dropped."""

    origin: str
    reason: str
    raw: bytes | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """A Falco alert, whichever way it arrived (http_output JSON or gRPC outputs.service)."""

    time: str
    rule: str
    priority: str
    source: str
    output: str
    hostname: str = ""
    tags: tuple[str, ...] = ()
    output_fields: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # keys the bridge adds (e.g. intake)

    def to_dict(self) -> dict[str, Any]:
        """Falco's own JSON keys, then whatever the bridge added."""
        out: dict[str, Any] = {
            "hostname": self.hostname,
            "output": self.output,
            "output_fields": self.output_fields,
            "priority": self.priority,
            "rule": self.rule,
            "source": self.source,
            "tags": list(self.tags),
            "time": self.time,
        }
        out.update(self.extra)
        return out
