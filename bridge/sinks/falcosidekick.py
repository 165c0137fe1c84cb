"""falcosidekick: forward each alert in Falco's own JSON, as Falco's http_output would post it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.model import Alert
from bridge.sinks._base import SINKS, Common
from bridge.sinks._http import HttpOptions
from bridge.sinks._json_post import JsonPost

FALCO_KEYS = ("hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time")


@dataclass(frozen=True, kw_only=True)
class FalcosidekickConfig(HttpOptions):
    url: str = field(metadata={"doc": "sidekick's listen URL, e.g. http://falcosidekick:2801/"})
    headers: dict[str, str] = field(default_factory=dict, metadata={"doc": "extra headers"})


@SINKS.register("falcosidekick")
class Falcosidekick(JsonPost):
    Config = FalcosidekickConfig
    summary = ("A falcosidekick, for teams that keep their sidekick outputs: the body is Falco's own JSON "
               "alert (the keys of http_output), so sidekick handles it as if Falco sent it, now with "
               "our queue and retries in front.")
    example = """\
destinations:
  - name: sidekick
    type: falcosidekick
    url: http://falcosidekick.falco:2801/
    allow_plain_http: true
"""

    def __init__(self, name: str, config: FalcosidekickConfig, common: Common) -> None:
        super().__init__(name, config, common)

    def build(self, alerts: Sequence[Alert]) -> dict[str, Any]:
        (a,) = alerts
        d = a.to_dict()
        return {k: d[k] for k in FALCO_KEYS}

    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "User-Agent": "falcosecurity/falco", **self.config.headers}
