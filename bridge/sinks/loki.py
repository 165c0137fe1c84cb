"""Grafana Loki: the push API, one stream per label set, the alert JSON (or a template) as the line."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.model import Alert
from bridge.route.template import field_value
from bridge.sinks._base import SINKS, Common, Sink, secret
from bridge.sinks._encoding import check_encoding, dumps, encode
from bridge.sinks._http import HttpClient, HttpOptions, check_url


def _label(name: str) -> str:
    """Loki label names are [a-zA-Z_][a-zA-Z0-9_]*: 'ct.region' -> 'ct_region'."""
    out = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    return out if out[:1].isalpha() or out[:1] == "_" else "_" + out


@dataclass(frozen=True, kw_only=True)
class LokiConfig(HttpOptions):
    url: str = field(metadata={"doc": "Loki base URL; /loki/api/v1/push is appended"})
    labels: list[str] = field(default_factory=lambda: ["source", "priority", "rule", "hostname"],
                              metadata={"doc": "alert keys or output fields that become stream labels"})
    static_labels: dict[str, str] = field(default_factory=lambda: {"job": "falco"}, metadata={"doc": "fixed labels"})
    tenant_id: str | None = field(default=None, metadata={"doc": "X-Scope-OrgID for multi-tenant Loki"})
    username: str | None = field(default=None, metadata={"doc": "basic auth user"})
    password: str | None = field(default=None, metadata={"doc": "basic auth password (env:NAME or file:/path)"})
    use_alert_time: bool = field(default=False, metadata={
        "doc": "timestamp lines with the alert's time (Loki refuses old ones; default: the send time)"})
    encoding: str = field(default="falco", metadata={"doc": "falco or ocsf"})

    def validate(self, path: str) -> None:
        check_encoding(self.encoding, path)


@SINKS.register("loki")
class Loki(Sink):
    Config = LokiConfig
    max_batch = 500
    summary = "Grafana Loki push API, batched, labels from alert keys or output fields."
    example = """\
destinations:
  - name: loki
    type: loki
    url: http://loki.monitoring:3100
    allow_plain_http: true      # in-cluster
    labels: [source, priority, rule]
    tenant_id: security
"""

    def __init__(self, name: str, config: LokiConfig, common: Common) -> None:
        super().__init__(name, config, common)
        where = f"destination {name}"
        check_url(config.url, config, f"{where}.url")
        self.headers = {"Content-Type": "application/json"}
        if config.tenant_id:
            self.headers["X-Scope-OrgID"] = config.tenant_id
        if config.username:
            pw = secret(config.password or "", f"{where}.password")
            self.headers["Authorization"] = "Basic " + base64.b64encode(f"{config.username}:{pw}".encode()).decode()
        self.http = HttpClient(config, where)

    def build(self, alerts: Sequence[Alert], now_ns: int | None = None) -> dict[str, Any]:
        now = now_ns or time.time_ns()
        streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
        for a in alerts:
            labels = dict(self.config.static_labels)
            for k in self.config.labels:
                v = field_value(a, k)
                if v not in (None, ""):
                    labels[_label(k)] = str(v)
            ts = now
            if self.config.use_alert_time and isinstance(a.output_fields.get("evt.time"), int):
                ts = a.output_fields["evt.time"]
            line = self.text(a) if self.template is not None else encode(a, self.config.encoding).decode()
            streams.setdefault(tuple(sorted(labels.items())), []).append([str(ts), line])
        return {"streams": [{"stream": dict(k), "values": v} for k, v in streams.items()]}

    def send(self, alerts: Sequence[Alert]) -> None:
        self.http.post(self.config.url.rstrip("/") + "/loki/api/v1/push", dumps(self.build(alerts)), self.headers)

    def close(self) -> None:
        self.http.close()
