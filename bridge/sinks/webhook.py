"""Any HTTP endpoint: the alert as JSON (Falco's or OCSF), or a template; optional HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

from bridge.model import Alert
from bridge.route.ident import alert_id
from bridge.sinks._base import SINKS, Common, Sink, secret
from bridge.sinks._encoding import check_encoding, dumps, encode_dict
from bridge.sinks._http import HttpClient, HttpOptions, check_url


@dataclass(frozen=True, kw_only=True)
class WebhookConfig(HttpOptions):
    url: str = field(metadata={"doc": "endpoint; `env:NAME` or `file:/path` to keep a token out of the file"})
    method: str = field(default="POST", metadata={"doc": "POST or PUT"})
    headers: dict[str, str] = field(default_factory=dict, metadata={"doc": "extra headers; values may be env:/file:"})
    hmac_secret: str | None = field(default=None, metadata={"doc": "sign the body with HMAC-SHA256 (env:/file:)"})
    signature_header: str = field(default="X-Ctbridge-Signature", metadata={"doc": "header carrying `sha256=<hex>`"})
    encoding: str = field(default="falco", metadata={"doc": "falco or ocsf"})
    content_type: str = field(default="application/json", metadata={"doc": "Content-Type of a templated body"})

    def validate(self, path: str) -> None:
        check_encoding(self.encoding, path)


@SINKS.register("webhook")
class Webhook(Sink):
    Config = WebhookConfig
    markup = "json"  # a template is usually a JSON document: values are escaped as JSON string content
    summary = ("POSTs each alert (or a JSON array per batch) to any URL, with an `X-Ctbridge-Alert-Id` "
               "idempotency header (`X-Ctbridge-Batch-Id` for a batch, whose documents carry their `id`) "
               "and an optional HMAC-SHA256 signature of the body (`sha256=<hex>`).")
    example = """\
destinations:
  - name: soar
    type: webhook
    url: env:SOAR_WEBHOOK_URL
    hmac_secret: file:/var/run/secrets/soar/hmac
    headers: {X-Team: secops}
    batch: {max_events: 50, interval: 2}
"""

    def __init__(self, name: str, config: WebhookConfig, common: Common) -> None:
        super().__init__(name, config, common)
        where = f"destination {name}"
        self.url = secret(config.url, f"{where}.url")
        check_url(self.url, config, f"{where}.url")
        self.headers = {k: secret(v, f"{where}.headers.{k}") for k, v in config.headers.items()}
        self.key = secret(config.hmac_secret, f"{where}.hmac_secret").encode() if config.hmac_secret else None
        self.http = HttpClient(config, where)

    def build(self, alerts: Sequence[Alert]) -> tuple[bytes, dict[str, str]]:
        """(body, headers): one alert is one object; a batch is an array."""
        cfg = self.config
        if self.template is not None:
            body = "\n".join(self.text(a) for a in alerts).encode()
            ctype = cfg.content_type
        else:
            docs = [encode_dict(a, cfg.encoding) for a in alerts]
            body = dumps(docs[0] if len(docs) == 1 else docs)
            ctype = "application/json"
        headers = {"Content-Type": ctype, "User-Agent": "ctbridge", **self.headers}
        ids = [alert_id(a) for a in alerts]
        if len(ids) == 1:
            headers["X-Ctbridge-Alert-Id"] = ids[0]  # the receiver's idempotency key
        else:  # ids are in the body; a header listing 500 of them would overflow proxies' limits
            headers["X-Ctbridge-Batch-Id"] = hashlib.sha256(",".join(ids).encode()).hexdigest()[:32]
        if self.key is not None:
            headers[cfg.signature_header] = "sha256=" + hmac.new(self.key, body, hashlib.sha256).hexdigest()
        return body, headers

    def send(self, alerts: Sequence[Alert]) -> None:
        body, headers = self.build(alerts)
        self.http.post(self.url, body, headers, self.config.method)

    def close(self) -> None:
        self.http.close()
