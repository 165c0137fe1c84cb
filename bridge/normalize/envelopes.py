"""The JSON shapes CloudTrail records arrive in, as a table of detectors.

Each detector recognises one shape and unwraps it to the CloudTrail records inside. Adding a shape
means adding a row to ENVELOPES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.errors import InputError

# A bare record has at least two of these (Insight records have no eventName, for instance).
_RECORD_KEYS = ("eventVersion", "eventTime", "eventName", "eventSource", "eventID")


@dataclass(frozen=True, slots=True)
class Envelope:
    name: str
    matches: Callable[[Any], bool]
    unwrap: Callable[[Any], list[Any]]


@dataclass(frozen=True, slots=True)
class Unrecognized:
    """An array element that matched no envelope; the caller reports it as bad input."""

    value: Any
    what: str


def is_record(value: Any) -> bool:
    return isinstance(value, dict) and sum(k in value for k in _RECORD_KEYS) >= 2


def _is_log_file(value: Any) -> bool:
    # A record that happens to carry a "Records" key is a record: unwrapping it lost it silently.
    return isinstance(value, dict) and isinstance(value.get("Records"), list) and not is_record(value)


def _is_eventbridge(value: Any) -> bool:
    # "AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail", "AWS Service Event via
    # CloudTrail", ...: all carry the CloudTrail record as `detail`.
    if not isinstance(value, dict) or not isinstance(value.get("detail"), dict):
        return False
    kind = value.get("detail-type")
    if not isinstance(kind, str):
        return False
    return kind.endswith("via CloudTrail") or is_record(value["detail"])


ENVELOPES: tuple[Envelope, ...] = (
    Envelope("CloudTrail log file", _is_log_file, lambda v: list(v["Records"])),
    Envelope("EventBridge event", _is_eventbridge, lambda v: [v["detail"]]),
    Envelope("CloudTrail record", is_record, lambda v: [v]),
)

_EXPECTED = 'a CloudTrail log file {"Records": [...]}, a CloudTrail record, an EventBridge event or an array of these'


def describe(value: Any) -> str:
    """A short description of a JSON value for error messages; never the whole value."""
    if isinstance(value, dict):
        keys = list(value)
        shown = ", ".join(str(k)[:40] for k in keys[:6])
        more = f" (+{len(keys) - 6} more)" if len(keys) > 6 else ""
        return f"a JSON object with keys [{shown}{more}]" if keys else "an empty JSON object"
    if isinstance(value, list):
        return f"a JSON array of {len(value)} items"
    if isinstance(value, str):
        return "a JSON string"
    if isinstance(value, bool):
        return "a JSON boolean"
    if value is None:
        return "JSON null"
    return "a JSON number"


def _match(value: Any) -> Envelope | None:
    for envelope in ENVELOPES:
        if envelope.matches(value):
            return envelope
    return None


def unwrap(value: Any) -> list[Any]:
    """The records inside a decoded JSON value, in order.

    Elements of a log file's Records[] come back as they are (the caller checks each one). In an
    array, an element no envelope knows comes back as Unrecognized so its neighbours survive.
    Raises InputError if nothing in the value is recognised.
    """
    envelope = _match(value)
    if envelope is not None:
        return envelope.unwrap(value)
    if not isinstance(value, list):
        raise InputError(f"unknown format: expected {_EXPECTED}; got {describe(value)}")
    out: list[Any] = []
    recognised = 0
    for item in value:
        inner = _match(item)
        if inner is None:
            out.append(Unrecognized(item, f"unknown format: array item is {describe(item)}, expected {_EXPECTED}"))
        else:
            recognised += 1
            out.extend(inner.unwrap(item))
    if value and not recognised:
        raise InputError(f"unknown format: expected {_EXPECTED}; got {describe(value)}, first item {describe(value[0])}")
    return out
