"""`ctbridge run --config` as one process does it all, in a real Falco: S3 (moto) -> enrich ->
plugin -> rules -> http_output -> routes -> durable queue -> a local webhook.

The webhook is a plain HTTP server on 127.0.0.1 standing in for a SOAR/chat endpoint (the
webhook destination's exact request is covered by tests/sinks/test_webhook.py).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from falco_helpers import REPO, RULES, SEED, free_port

from bridge.falco.locate import FalcoTarget
from bridge.falco.runner import FalcoRun

pytestmark = pytest.mark.integration

# Fires on every record the bridge enriched: proves the daemon wrote the "ctb" key.
ENRICHED_RULE = """\
- required_engine_version: 0.10.0
- rule: Record Enriched By The Bridge
  desc: the daemon's enrich stage added ctb.principal
  condition: ctb.principal != ""
  output: enriched %ct.id principal=%ctb.principal
  priority: DEBUG
  source: aws_cloudtrail
"""


class Webhook:
    def __init__(self) -> None:
        self.bodies: list[Any] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for b in self.bodies:
            out.extend(b if isinstance(b, list) else [b])
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def workdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="ctb-fwd-"))  # short: unix socket paths are limited to 108 bytes
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_run_config_forwards_enriched_alerts_to_a_webhook(
    aws: str, falco_binary: tuple[str, tuple[int, int, int]], plugin_path: str, workdir: Path
) -> None:
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="org-trail")
    log = next(SEED.glob("*.json.gz"))
    s3.put_object(Bucket="org-trail", Key=f"AWSLogs/o-abcdefghij/161134881107/CloudTrail/us-east-1/2020/10/19/{log.name}",
                  Body=log.read_bytes())
    extra = workdir / "extra"
    extra.mkdir()
    (extra / "enriched.yaml").write_text(ENRICHED_RULE)
    hook, audit = Webhook(), Webhook()
    port = free_port()
    try:
        with FalcoRun(FalcoTarget(kind="binary", binary=falco_binary[0]), plugin_path=plugin_path,
                      rules=[str(RULES), str(extra)], http_url=f"http://127.0.0.1:{port}/", workdir=workdir / "f"):
            config = {
                "falco": {"socket": str(workdir / "f" / "ingest.sock"), "listen": f"127.0.0.1:{port}", "quiet": 3.0},
                "state": {"path": str(workdir / "state.db")},
                "exit_when_idle": True,
                "sources": [{"type": "s3", "bucket": "org-trail", "endpoint_url": aws, "once": True,
                             "since": "2020-10-19T00:00:00Z", "until": "2020-10-20T00:00:00Z"}],
                "queue": {"dir": str(workdir / "queue")},
                "destinations": [{"name": "soar", "type": "webhook", "url": hook.url},
                                 {"name": "audit", "type": "webhook", "url": audit.url}],
                "routes": [{"min_priority": "Warning", "to": ["soar"]},
                           {"rules": ["Record Enriched*"], "to": ["audit"]}],
            }
            cfg = workdir / "ctbridge.yaml"
            cfg.write_text(yaml.safe_dump(config))
            done = subprocess.run([sys.executable, "-m", "bridge", "run", "--config", str(cfg)], cwd=REPO,
                                  capture_output=True, text=True, timeout=180, env=dict(os.environ), check=False)
            assert done.returncode == 0, done.stderr[-3000:]
        alerts, enriched = hook.alerts(), audit.alerts()
    finally:
        hook.close()
        audit.close()
    expected = yaml.safe_load((SEED / "expected_alerts.yaml").read_text(encoding="utf-8"))
    want = sorted((a["rule"], a["event_id"]) for a in expected["alerts"] if a["input"] == "cloudtrail")
    got = sorted((a["rule"], a["output_fields"]["ct.id"]) for a in alerts)
    # Every expected alert exactly once; the DEBUG "enriched" alerts are below the route's Warning.
    assert got == want
    assert "Record Enriched By The Bridge" not in {a["rule"] for a in alerts}
    # The enrich stage ran in the daemon: Falco read ctb.principal on the seed's records made by
    # people (AWS service calls are not enriched), and its state sits next to state.path.
    records = json.loads(gzip.decompress(log.read_bytes()))["Records"]
    people = {r["eventID"] for r in records if r["userIdentity"]["type"] not in ("AWSService", "AWSAccount")}
    assert people and {a["output_fields"]["ct.id"] for a in enriched} == people
    assert all(a["output_fields"]["ctb.principal"] for a in enriched)
    assert (workdir / "enrich.db").exists()
