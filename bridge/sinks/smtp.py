"""Email over SMTP: STARTTLS (or implicit TLS), a plain-text and an HTML part per alert."""

from __future__ import annotations

import html
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from bridge.config import _where
from bridge.errors import ConfigError
from bridge.model import Alert
from bridge.route.ident import alert_id
from bridge.route.template import Template
from bridge.sinks._base import SINKS, Common, Permanent, Retryable, Sink, secret


@dataclass(frozen=True, kw_only=True)
class SmtpConfig:
    host: str = field(metadata={"doc": "SMTP server"})
    port: int = field(default=587, metadata={"doc": "587 for STARTTLS, 465 for implicit TLS"})
    tls: str = field(default="starttls", metadata={"doc": "starttls, implicit, or none (loopback relays only)"})
    username: str | None = field(default=None, metadata={"doc": "login user"})
    password: str | None = field(default=None, metadata={"doc": "login password (env:NAME or file:/path)"})
    from_addr: str = field(metadata={"doc": "From: address"})
    to: list[str] = field(metadata={"doc": "recipients"})
    subject: str = field(default="[{priority}] {rule}", metadata={"doc": "subject template"})
    ca_file: str | None = field(default=None, metadata={"doc": "CA bundle to verify the server"})
    timeout: float = field(default=15.0, metadata={"doc": "seconds per SMTP exchange"})

    def validate(self, path: str) -> None:
        if self.tls not in ("starttls", "implicit", "none"):
            raise ConfigError(f"{_where(path + '.tls')}: {self.tls!r} is not starttls, implicit or none")
        if self.tls == "none" and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(f"{_where(path + '.tls')}: none is only allowed for a relay on loopback")
        if not self.to:
            raise ConfigError(f"{_where(path + '.to')}: at least one recipient")


@SINKS.register("smtp")
class Smtp(Sink):
    Config = SmtpConfig
    markup = "html"  # a template fills the HTML part; alert values are HTML-escaped
    batch_limit = 1  # one message per alert
    summary = "Email through an SMTP server with STARTTLS, one message per alert (text and HTML parts)."
    example = """\
destinations:
  - name: mail
    type: smtp
    host: smtp.example.com
    username: alerts@example.com
    password: env:SMTP_PASSWORD
    from_addr: falco@example.com
    to: [secops@example.com]
routes:
  - {min_priority: Error, to: [mail]}
"""

    def __init__(self, name: str, config: SmtpConfig, common: Common) -> None:
        super().__init__(name, config, common)
        self.password = secret(config.password, f"destination {name}.password") if config.password else None
        self.subject = Template(config.subject)

    def build(self, alerts: Sequence[Alert]) -> EmailMessage:
        (a,) = alerts
        m = EmailMessage()
        m["From"] = self.config.from_addr
        m["To"] = ", ".join(self.config.to)
        m["Subject"] = " ".join(self.subject.render(a).split())[:200]
        m["Date"] = formatdate(localtime=False)
        m["Message-ID"] = make_msgid(idstring=alert_id(a)[:16], domain="ctbridge")
        m["X-Ctbridge-Alert-Id"] = alert_id(a)
        fields = "\n".join(f"{k}: {v}" for k, v in a.output_fields.items())
        m.set_content(f"{a.output}\n\nrule: {a.rule}\npriority: {a.priority}\nsource: {a.source}\n"
                      f"hostname: {a.hostname}\ntime: {a.time}\ntags: {', '.join(a.tags)}\n\n{fields}\n")
        rows = "".join(f"<tr><th align=left>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in [("rule", a.rule), ("priority", a.priority), ("source", a.source),
                                    ("hostname", a.hostname), ("time", a.time), *a.output_fields.items()])
        m.add_alternative(f"<html><body><p>{self.text(a)}</p><table>{rows}</table></body></html>", subtype="html")
        return m

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.config.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def send(self, alerts: Sequence[Alert]) -> None:
        c = self.config
        msg = self.build(alerts)
        try:
            if c.tls == "implicit":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=self._context())
            else:
                conn = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            with conn:
                if c.tls == "starttls":
                    conn.starttls(context=self._context())
                if c.username:
                    conn.login(c.username, self.password or "")
                conn.send_message(msg)
        except smtplib.SMTPResponseException as e:
            text = f"{self.name}: SMTP {e.smtp_code}: {e.smtp_error[:200]!r}"
            raise (Retryable(text) if 400 <= e.smtp_code < 500 else Permanent(text)) from None
        except smtplib.SMTPRecipientsRefused as e:
            codes = [v[0] for v in e.recipients.values()]
            text = f"{self.name}: recipients refused {codes}"
            raise (Retryable(text) if all(400 <= x < 500 for x in codes) else Permanent(text)) from None
        except smtplib.SMTPNotSupportedError as e:
            raise Permanent(f"{self.name}: {e}") from None
        except (smtplib.SMTPException, OSError, socket.timeout) as e:
            raise Retryable(f"{self.name}: {type(e).__name__}: {e}") from None
