"""PagerDuty Events API v2: one trigger event per alert, dedup_key = the alert id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.model import Alert
from bridge.route.ident import alert_id
from bridge.sinks._base import SINKS, Common, secret
from bridge.sinks._encoding import iso_ms
from bridge.sinks._http import HttpOptions
from bridge.sinks._json_post import JsonPost

SEVERITY = {"Emergency": "critical", "Alert": "critical", "Critical": "critical", "Error": "error",
            "Warning": "warning", "Notice": "info", "Informational": "info", "Debug": "info"}


@dataclass(frozen=True, kw_only=True)
class PagerDutyConfig(HttpOptions):
    routing_key: str = field(metadata={"doc": "the integration's routing key (a secret: env:NAME or file:/path)"})
    url: str = field(default="https://events.pagerduty.com/v2/enqueue", metadata={"doc": "Events API v2 endpoint"})


@SINKS.register("pagerduty")
class PagerDuty(JsonPost):
    Config = PagerDutyConfig
    summary = "PagerDuty Events API v2 trigger events; the alert id is the dedup_key, so a resend is idempotent."
    example = """\
destinations:
  - name: oncall
    type: pagerduty
    routing_key: env:PD_ROUTING_KEY
routes:
  - {min_priority: Critical, to: [oncall]}
"""

    def __init__(self, name: str, config: PagerDutyConfig, common: Common) -> None:
        super().__init__(name, config, common)
        self.key = secret(config.routing_key, f"destination {name}.routing_key")

    def build(self, alerts: Sequence[Alert]) -> dict[str, Any]:
        (a,) = alerts
        payload: dict[str, Any] = {
            "summary": self.text(a)[:1024] or a.rule,
            "source": a.hostname or "ctbridge",
            "severity": SEVERITY.get(a.priority, "info"),
            "component": a.source or "falco",
            "group": a.rule,
            "class": a.priority,
            "custom_details": {"rule": a.rule, "priority": a.priority, "tags": list(a.tags),
                               "output_fields": a.output_fields},
        }
        when = iso_ms(a.time)
        if when:
            payload["timestamp"] = when
        return {"routing_key": self.key, "event_action": "trigger", "dedup_key": alert_id(a),
                "payload": payload}
