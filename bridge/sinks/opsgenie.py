"""Opsgenie Alert API: one alert per Falco alert, alias = the alert id (Opsgenie de-duplicates on it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.model import Alert
from bridge.route.ident import alert_id
from bridge.sinks._base import SINKS, Common, secret
from bridge.sinks._http import HttpOptions
from bridge.sinks._json_post import JsonPost

PRIORITY = {"Emergency": "P1", "Alert": "P1", "Critical": "P1", "Error": "P2", "Warning": "P3",
            "Notice": "P4", "Informational": "P5", "Debug": "P5"}


@dataclass(frozen=True, kw_only=True)
class OpsgenieConfig(HttpOptions):
    api_key: str = field(metadata={"doc": "API integration key (a secret: env:NAME or file:/path)"})
    url: str = field(default="https://api.opsgenie.com/v2/alerts",
                     metadata={"doc": "alerts endpoint (EU: https://api.eu.opsgenie.com/v2/alerts)"})
    responders: list[dict[str, str]] = field(default_factory=list,
                                             metadata={"doc": "e.g. [{type: team, name: SecOps}]"})


@SINKS.register("opsgenie")
class Opsgenie(JsonPost):
    Config = OpsgenieConfig
    summary = "Opsgenie Alert API; alias is the alert id, so a resend does not open a second alert."
    example = """\
destinations:
  - name: opsgenie
    type: opsgenie
    api_key: env:OPSGENIE_API_KEY
    responders: [{type: team, name: SecOps}]
"""

    def __init__(self, name: str, config: OpsgenieConfig, common: Common) -> None:
        super().__init__(name, config, common)
        self.key = secret(config.api_key, f"destination {name}.api_key")

    def build(self, alerts: Sequence[Alert]) -> dict[str, Any]:
        (a,) = alerts
        body: dict[str, Any] = {
            "message": (a.rule or a.output)[:130],
            "alias": alert_id(a),
            "description": self.text(a)[:15000],
            "tags": [t[:50] for t in a.tags][:20],
            "details": {k: str(v)[:1000] for k, v in list(a.output_fields.items())[:40]}
            | {"source": a.source, "hostname": a.hostname, "time": a.time},
            "entity": a.hostname[:512],
            "source": "ctbridge",
            "priority": PRIORITY.get(a.priority, "P3"),
        }
        if self.config.responders:
            body["responders"] = self.config.responders
        return body

    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Authorization": f"GenieKey {self.key}"}
