"""The one HTTP client of the HTTP destinations: TLS, timeouts, and status -> Retryable/Permanent."""

from __future__ import annotations

import email.utils
import ipaddress
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import urllib3

from bridge.errors import ConfigError
from bridge.sinks._base import Permanent, Retryable

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, kw_only=True)
class HttpOptions:
    """Mixed into the config of every HTTP destination."""

    timeout: float = field(default=10.0, metadata={"doc": "seconds to connect and to wait for the answer"})
    ca_file: str | None = field(default=None, metadata={"doc": "CA bundle to verify the server (default: system)"})
    client_cert: str | None = field(default=None, metadata={"doc": "client certificate for mTLS"})
    client_key: str | None = field(default=None, metadata={"doc": "key of client_cert"})
    insecure_skip_verify: bool = field(default=False, metadata={"doc": "do not verify the server certificate"})
    allow_plain_http: bool = field(default=False, metadata={"doc": "allow http:// to a host other than loopback"})


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def check_url(url: str, opts: HttpOptions, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: not an http(s) URL")  # the URL may hold a token: not echoed
    if parts.scheme == "http" and not opts.allow_plain_http:
        host = parts.hostname
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConfigError(f"{where}: plain http:// to {host}; use https:// or set allow_plain_http: true")


class HttpClient:
    def __init__(self, opts: HttpOptions, name: str) -> None:
        self.name = name
        kw: dict[str, object] = {}
        if opts.insecure_skip_verify:
            kw["cert_reqs"] = "CERT_NONE"
        elif opts.ca_file:
            kw["ca_certs"] = opts.ca_file
        if opts.client_cert:
            kw["cert_file"] = opts.client_cert
            kw["key_file"] = opts.client_key
        self._pool = urllib3.PoolManager(
            num_pools=4, maxsize=4, retries=False,
            timeout=urllib3.Timeout(connect=min(opts.timeout, 5.0), read=opts.timeout), **kw,  # type: ignore[arg-type]
        )

    def post(self, url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> urllib3.BaseHTTPResponse:
        """Send; return the 2xx response, else raise Retryable or Permanent (never the URL)."""
        try:
            resp = self._pool.request(method, url, body=body, headers=headers, preload_content=True)
        except urllib3.exceptions.HTTPError as e:
            raise Retryable(f"{self.name}: {type(e).__name__}") from None
        if 200 <= resp.status < 300:
            return resp
        snippet = resp.data[:200].decode("utf-8", "replace")
        message = f"{self.name}: HTTP {resp.status}: {snippet}"
        if resp.status in RETRYABLE_STATUS:
            raise Retryable(message, parse_retry_after(resp.headers.get("Retry-After")))
        raise Permanent(message)

    def close(self) -> None:
        self._pool.clear()
