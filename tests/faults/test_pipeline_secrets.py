"""Secrets never reach the logs: `ctbridge forward` at debug level, with every kind of secret
set from the environment or a file (a webhook URL carrying a token, an Authorization header, an
HMAC key, a PagerDuty routing key, the intake's shared secret), while things go wrong around
them (the destinations answer 500, time out and refuse connections; a client posts with a wrong
secret). The whole log is then searched for each secret, and for its URL-encoded form."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
SECRETS = {
    "HOOK_TOKEN": "hk-7f3a9c1e5b2d4f60a8e1c3d5f7091b2a",
    "AUTH_TOKEN": "Bearer at-0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a",
    "PD_KEY": "pdkey-a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "INTAKE_SECRET": "is-5e4d3c2b1a09f8e7d6c5b4a39281706f",
}
HMAC_KEY = "hm-13579bdf02468ace13579bdf02468ace"

pytestmark = pytest.mark.timeout(120)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_500(port: int) -> subprocess.Popen[bytes]:
    """A destination that answers 500 to everything (its own process: no logs of ours)."""
    code = (
        "import http.server as h\n"
        "class H(h.BaseHTTPRequestHandler):\n"
        "    def do_POST(self):\n"
        "        self.rfile.read(int(self.headers.get('Content-Length', 0)))\n"
        "        self.send_response(500); self.send_header('Content-Length', '5'); self.end_headers()\n"
        "        self.wfile.write(b'oops!')\n"
        "    def log_message(self, *a): pass\n"
        f"h.ThreadingHTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
    )
    return subprocess.Popen([sys.executable, "-c", code])


def test_no_secret_appears_in_the_logs(tmp_path: Path) -> None:
    hook_port, dead_port, intake_port = _port(), _port(), _port()
    server = _serve_500(hook_port)
    (tmp_path / "hmac").write_text(HMAC_KEY + "\n")
    env = {**os.environ, **SECRETS,
           "HOOK_URL": f"http://127.0.0.1:{hook_port}/hooks/{SECRETS['HOOK_TOKEN']}?token={SECRETS['HOOK_TOKEN']}"}
    common = {"timeout": 0.5, "backoff_base": 0.05, "backoff_max": 0.2, "allow_plain_http": True}
    config = {
        "intake": {"listen": f"127.0.0.1:{intake_port}", "secret": "env:INTAKE_SECRET"},
        "queue": {"dir": str(tmp_path / "q")},
        "destinations": [
            {"name": "hook", "type": "webhook", "url": "env:HOOK_URL", "hmac_secret": f"file:{tmp_path / 'hmac'}",
             "headers": {"Authorization": "env:AUTH_TOKEN"}, **common},
            {"name": "pd", "type": "pagerduty", "routing_key": "env:PD_KEY",
             "url": f"http://127.0.0.1:{dead_port}/v2/enqueue", **common},
        ],
    }
    cfg = tmp_path / "forward.yaml"
    cfg.write_text(orjson.dumps(config).decode())
    log = tmp_path / "forward.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bridge", "--log-level", "debug", "forward",
                                 "--config", str(cfg)], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        alert = orjson.dumps({"output": "x", "priority": "Critical", "rule": "r", "time": "2024-01-01T00:00:00Z",
                              "output_fields": {"ct.id": "1"}, "source": "aws_cloudtrail", "tags": [],
                              "hostname": "h"})
        deadline = time.monotonic() + 20
        posted = {"ok": 0, "bad": 0}
        while time.monotonic() < deadline and posted["ok"] < 3:
            assert proc.poll() is None, log.read_text()[-2000:]
            for secret_value, key in ((SECRETS["INTAKE_SECRET"], "ok"), ("wrong-" + SECRETS["INTAKE_SECRET"], "bad")):
                try:
                    c = http.client.HTTPConnection("127.0.0.1", intake_port, timeout=5)
                    c.request("POST", "/", alert, {"Content-Type": "application/json",
                                                   "X-Ctbridge-Secret": secret_value})
                    status = c.getresponse().status
                    c.close()
                except OSError:
                    time.sleep(0.2)
                    continue
                if (key == "ok" and status == 200) or (key == "bad" and status == 401):
                    posted[key] += 1
        assert posted["ok"] >= 3 and posted["bad"] >= 1, (posted, log.read_text()[-2000:])
        time.sleep(3)  # retries against the 500s and the refused port, then dead-lettering
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        server.kill()
        server.wait(10)
    text = log.read_text(errors="replace")
    assert "500" in text or "retry" in text.lower(), "the failures must have been logged: " + text[-2000:]
    for name, value in {**SECRETS, "HMAC": HMAC_KEY}.items():
        token = value.split()[-1]  # "Bearer x" -> "x"
        for form in {token, urllib.parse.quote(token, safe="")}:
            assert form not in text, f"{name} appears in the log:\n" + "\n".join(
                line for line in text.splitlines() if form in line)
