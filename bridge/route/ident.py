"""A stable id per alert: the same alert from a retrying Falco or a second intake gets the same id."""

from __future__ import annotations

import hashlib

import orjson

from bridge.model import Alert


def alert_id(alert: Alert) -> str:
    """sha256 over rule, time, source, hostname and output fields (sorted keys), 32 hex chars.

    Not the output text: it repeats those fields, and `extra` (intake, sidekick's uuid) differs
    between two deliveries of one alert.
    """
    key = orjson.dumps(
        [alert.rule, alert.time, alert.source, alert.hostname, alert.output_fields],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        default=str,
    )
    if not alert.rule and not alert.output_fields:
        key += alert.output.encode("utf-8", "replace")  # text alerts carry only their line
    return hashlib.sha256(key).hexdigest()[:32]
