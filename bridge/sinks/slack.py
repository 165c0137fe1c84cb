"""Slack incoming webhook with Block Kit; every alert-derived string is escaped for mrkdwn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.model import Alert
from bridge.route.escape import slack as esc
from bridge.sinks._base import SINKS, Common
from bridge.sinks._http import HttpOptions
from bridge.sinks._json_post import JsonPost

EMOJI = {"Emergency": ":rotating_light:", "Alert": ":rotating_light:", "Critical": ":red_circle:",
         "Error": ":large_orange_circle:", "Warning": ":large_yellow_circle:", "Notice": ":large_blue_circle:",
         "Informational": ":white_circle:", "Debug": ":white_circle:"}


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True, kw_only=True)
class SlackConfig(HttpOptions):
    webhook_url: str = field(metadata={"doc": "incoming webhook URL (a secret: use env:NAME or file:/path)"})
    username: str | None = field(default=None, metadata={"doc": "override the webhook's name"})
    icon_emoji: str | None = field(default=None, metadata={"doc": "override the webhook's icon"})
    fields: list[str] = field(default_factory=lambda: ["priority", "source", "hostname", "time"],
                              metadata={"doc": "alert keys or output fields shown as a table"})


@SINKS.register("slack")
class Slack(JsonPost):
    Config = SlackConfig
    markup = "slack"
    summary = "Slack incoming webhook, one Block Kit message per alert, text escaped for mrkdwn."
    example = """\
destinations:
  - name: sec-channel
    type: slack
    webhook_url: env:SLACK_WEBHOOK_URL
    template: "*{rule}* on `{hostname}` by {ct.user}"   # optional; values are escaped
"""

    def __init__(self, name: str, config: SlackConfig, common: Common) -> None:
        super().__init__(name, config, common, "webhook_url")

    def build(self, alerts: Sequence[Alert]) -> dict[str, Any]:
        (a,) = alerts
        from bridge.route.template import field_value

        title = f"{EMOJI.get(a.priority, '')} *{esc(a.priority)}*: {esc(a.rule or 'Falco alert')}".strip()
        facts = []
        for k in self.config.fields:
            v = field_value(a, k)
            if v not in (None, ""):
                facts.append({"type": "mrkdwn", "text": _cut(f"*{esc(k)}*\n{esc(str(v))}", 2000)})
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(title, 3000)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(self.text(a), 3000)}},
        ]
        if facts:
            blocks.append({"type": "section", "fields": facts[:10]})
        if a.tags:
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": _cut("tags: " + esc(", ".join(a.tags)), 2000)}]})
        msg: dict[str, Any] = {"text": _cut(f"{esc(a.priority)}: {esc(a.rule)}", 3000), "blocks": blocks}
        if self.config.username:
            msg["username"] = self.config.username
        if self.config.icon_emoji:
            msg["icon_emoji"] = self.config.icon_emoji
        return msg
