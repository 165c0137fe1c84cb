"""smtp against aiosmtpd (a real SMTP server on 127.0.0.1), plain and with STARTTLS."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sinks.alerts import HOSTILE, cloud, hostile, make_sink

from bridge.errors import ConfigError
from bridge.route.ident import alert_id
from bridge.sinks._base import Permanent

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd (test extras) is the SMTP server")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if address.endswith("@refused.example"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def _server(inbox: Inbox, **kw: Any) -> Any:
    import socket

    with socket.socket() as sock:  # aiosmtpd's start() connects to its port, so 0 will not do
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = aiosmtpd_controller.Controller(inbox, hostname="127.0.0.1", port=port, **kw)
    c.start()
    return c


@pytest.fixture()
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    c = _server(inbox)
    try:
        yield inbox, c.port
    finally:
        c.stop()


def test_message_with_escaped_html(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    s = make_sink({"name": "m", "type": "smtp", "host": "127.0.0.1", "port": port, "tls": "none",
                   "from_addr": "falco@example.com", "to": ["a@example.com", "b@example.com"]})
    s.send([hostile()])
    ((rcpt, raw),) = inbox.messages
    assert rcpt == ["a@example.com", "b@example.com"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"].startswith("[Critical] Rule <!channel>")  # a subject is plain text
    assert msg["X-Ctbridge-Alert-Id"] == alert_id(hostile())
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "&lt;!channel&gt;" in html
    assert HOSTILE in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_refused_recipient_is_permanent(smtp: tuple[Inbox, int]) -> None:
    _, port = smtp
    s = make_sink({"name": "m", "type": "smtp", "host": "127.0.0.1", "port": port, "tls": "none",
                   "from_addr": "falco@example.com", "to": ["x@refused.example"]})
    with pytest.raises(Permanent):
        s.send([cloud(1)])


def test_starttls_with_a_verified_server_cert(tmp_path: Path) -> None:
    import ssl

    from pki import make_pki

    pki = make_pki(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    inbox = Inbox()
    c = _server(inbox, tls_context=ctx, require_starttls=True)
    try:
        port = c.port
        s = make_sink({"name": "m", "type": "smtp", "host": "127.0.0.1", "port": port, "ca_file": str(pki / "ca.pem"),
                       "from_addr": "falco@example.com", "to": ["a@example.com"]})
        s.send([cloud(1)])
        assert len(inbox.messages) == 1
    finally:
        c.stop()


def test_no_tls_only_on_loopback() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        make_sink({"name": "m", "type": "smtp", "host": "smtp.example.com", "tls": "none",
                   "from_addr": "f@example.com", "to": ["a@example.com"]})
