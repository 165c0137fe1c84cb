"""Escape alert text for each destination's markup: CloudTrail fields are attacker-controlled.

A bucket name or user agent can carry `<!channel>`, `<https://evil|click>`, HTML or Markdown;
each escaper makes such text print as itself.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

Escaper = Callable[[str], str]


def none(text: str) -> str:
    return text


def slack(text: str) -> str:
    """Slack mrkdwn: &, < and > are the only control characters Slack asks to escape; that already
    breaks <!channel>, <@U123> and <url|label>. Formatting marks are neutralised with a zero-width
    space so *bold*, _it_, ~strike~ and `code` in a field stay literal."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([*_~`])", "\u200b\\1\u200b", text)


def html_text(text: str) -> str:
    return html.escape(text, quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def markdown(text: str) -> str:
    """CommonMark (Teams Adaptive Cards' TextBlock): &, < and > as entities (shown as themselves,
    so no autolink or raw HTML), then a backslash before every other mark with a meaning."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")


def json_string(text: str) -> str:
    """Inside a JSON string literal of a template: quotes, backslashes and controls escaped."""
    import json

    return json.dumps(text, ensure_ascii=False)[1:-1]


ESCAPERS: dict[str, Escaper] = {"none": none, "slack": slack, "html": html_text, "markdown": markdown,
                          "json": json_string}
