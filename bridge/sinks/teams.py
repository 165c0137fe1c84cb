"""Microsoft Teams through a Workflows (Power Automate) webhook, as an Adaptive Card."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.model import Alert
from bridge.route.escape import markdown as esc
from bridge.route.template import field_value
from bridge.sinks._base import SINKS, Common
from bridge.sinks._http import HttpOptions
from bridge.sinks._json_post import JsonPost

COLOR = {"Emergency": "Attention", "Alert": "Attention", "Critical": "Attention", "Error": "Attention",
         "Warning": "Warning", "Notice": "Accent"}


@dataclass(frozen=True, kw_only=True)
class TeamsConfig(HttpOptions):
    webhook_url: str = field(metadata={"doc": "the workflow's HTTP POST URL (a secret: env:NAME or file:/path)"})
    fields: list[str] = field(default_factory=lambda: ["priority", "source", "hostname", "time"],
                              metadata={"doc": "alert keys or output fields shown as facts"})


@SINKS.register("teams")
class Teams(JsonPost):
    Config = TeamsConfig
    markup = "markdown"  # TextBlock renders a Markdown subset: values are backslash-escaped
    summary = "Microsoft Teams workflow webhook, one Adaptive Card per alert."
    example = """\
destinations:
  - name: teams-secops
    type: teams
    webhook_url: env:TEAMS_WORKFLOW_URL
"""

    def __init__(self, name: str, config: TeamsConfig, common: Common) -> None:
        super().__init__(name, config, common, "webhook_url")

    def build(self, alerts: Sequence[Alert]) -> dict[str, Any]:
        (a,) = alerts
        facts = [{"title": esc(k), "value": esc(str(v))} for k in self.config.fields
                 if (v := field_value(a, k)) not in (None, "")]
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard", "version": "1.4",
            "body": [
                {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True,
                 "color": COLOR.get(a.priority, "Default"), "text": esc(f"{a.priority}: {a.rule}")},
                {"type": "TextBlock", "wrap": True, "text": self.text(a)},
                {"type": "FactSet", "facts": facts},
            ],
        }
        if a.tags:
            card["body"].append({"type": "TextBlock", "wrap": True, "isSubtle": True,
                                 "text": esc("tags: " + ", ".join(a.tags))})
        return {"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}
