"""Elasticsearch / OpenSearch: the _bulk API, `_id` = the alert id so a resend overwrites, never doubles."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from bridge.model import Alert
from bridge.route.ident import alert_id
from bridge.sinks._base import SINKS, Common, PartialFailure, Sink, secret
from bridge.sinks._encoding import check_encoding, encode
from bridge.sinks._http import RETRYABLE_STATUS, HttpClient, HttpOptions, check_url


@dataclass(frozen=True, kw_only=True)
class ElasticsearchConfig(HttpOptions):
    url: str = field(metadata={"doc": "cluster URL, e.g. https://es.example:9200"})
    index: str = field(default="falco-%Y.%m.%d", metadata={"doc": "index name; strftime codes use the send date (UTC)"})
    username: str | None = field(default=None, metadata={"doc": "basic auth user"})
    password: str | None = field(default=None, metadata={"doc": "basic auth password (env:NAME or file:/path)"})
    api_key: str | None = field(default=None, metadata={"doc": "Elasticsearch API key, base64 id:key (env:/file:)"})
    encoding: str = field(default="falco", metadata={"doc": "falco or ocsf"})

    def validate(self, path: str) -> None:
        check_encoding(self.encoding, path)


@SINKS.register("elasticsearch")
class Elasticsearch(Sink):
    Config = ElasticsearchConfig
    max_batch = 500
    summary = ("Elasticsearch or OpenSearch `_bulk` indexing; `_id` is the alert id, so a retried batch "
               "overwrites the same documents. Per-item failures are retried or dead-lettered alone.")
    example = """\
destinations:
  - name: es
    type: elasticsearch
    url: https://es.internal:9200
    index: falco-%Y.%m
    username: ctbridge
    password: file:/var/run/secrets/es/password
    batch: {max_events: 500, interval: 2}
"""

    def __init__(self, name: str, config: ElasticsearchConfig, common: Common) -> None:
        super().__init__(name, config, common)
        where = f"destination {name}"
        check_url(config.url, config, f"{where}.url")
        self.headers = {"Content-Type": "application/x-ndjson"}
        if config.api_key:
            self.headers["Authorization"] = "ApiKey " + secret(config.api_key, f"{where}.api_key")
        elif config.username:
            pw = secret(config.password or "", f"{where}.password")
            self.headers["Authorization"] = "Basic " + base64.b64encode(f"{config.username}:{pw}".encode()).decode()
        self.http = HttpClient(config, where)

    def build(self, alerts: Sequence[Alert], now: dt.datetime | None = None) -> bytes:
        index = (now or dt.datetime.now(dt.UTC)).strftime(self.config.index)
        out = []
        for a in alerts:
            out.append(orjson.dumps({"index": {"_index": index, "_id": alert_id(a)}}))
            out.append(encode(a, self.config.encoding))
        return b"\n".join(out) + b"\n"

    def send(self, alerts: Sequence[Alert]) -> None:
        resp = self.http.post(self.config.url.rstrip("/") + "/_bulk", self.build(alerts), self.headers)
        answer = orjson.loads(resp.data or b"{}")
        if not answer.get("errors"):
            return
        retry: dict[int, str] = {}
        perm: dict[int, str] = {}
        for i, item in enumerate(answer.get("items", [])):
            res: dict[str, object] = next(iter(item.values()), {})
            status = int(str(res.get("status", 200)))
            if status >= 300:
                reason = f"{status}: {orjson.dumps(res.get('error', ''))[:300].decode()}"
                (retry if status in RETRYABLE_STATUS else perm)[i] = reason
        if retry or perm:
            raise PartialFailure(retry, perm)

    def close(self) -> None:
        self.http.close()
