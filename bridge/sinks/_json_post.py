"""The shape shared by chat and paging destinations: one JSON body per alert, POSTed to one URL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.model import Alert
from bridge.sinks._base import Common, Sink, secret
from bridge.sinks._encoding import dumps
from bridge.sinks._http import HttpClient, check_url


class JsonPost(Sink):
    """Subclasses build() the body and may add headers(); the URL may be a secret (env:, file:)."""

    batch_limit = 1  # one message per alert

    def __init__(self, name: str, config: Any, common: Common, url_key: str = "url") -> None:
        super().__init__(name, config, common)
        where = f"destination {name}.{url_key}"
        self.url = secret(getattr(config, url_key), where)
        check_url(self.url, config, where)
        self.http = HttpClient(config, f"destination {name}")

    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json"}

    def send(self, alerts: Sequence[Alert]) -> None:
        self.http.post(self.url, dumps(self.build(alerts)), self.headers())

    def close(self) -> None:
        self.http.close()
