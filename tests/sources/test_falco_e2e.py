"""End to end in a real Falco: S3 (moto) -> `run --config` daemon -> ctbridge plugin in Falco ->
rules -> http_output -> alerts. Skips when no Falco binary is here (FALCO_BINARY, falco on PATH)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml
from ct import daemon_config, free_port, run_daemon
from plugin_abi import default_library

from bridge.commands._shared import default_rules
from bridge.falco.locate import FalcoTarget
from bridge.falco.runner import FalcoRun
from bridge.model import Alert

SEED = Path(__file__).resolve().parents[2] / "samples" / "seed"
pytestmark = pytest.mark.integration


def _falco() -> str:
    for c in (os.environ.get("FALCO_BINARY"), shutil.which("falco"), "/usr/local/bin/falco"):
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    pytest.skip("no Falco binary here (set FALCO_BINARY or put falco on PATH)")


@pytest.fixture
def workdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="ctb-e2e-"))  # short: unix socket paths are limited to 108 bytes
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_seed_from_s3_raises_the_expected_alerts_in_falco(aws: str, workdir: Path) -> None:
    binary = _falco()
    if not Path(default_library()).is_file():
        pytest.skip("plugin library not built (make plugin)")
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="org-trail")
    name = next(SEED.glob("*.json.gz")).name
    s3.put_object(Bucket="org-trail", Key=f"AWSLogs/o-abcdefghij/161134881107/CloudTrail/us-east-1/2020/10/19/{name}",
                  Body=(SEED / name).read_bytes())
    port = free_port()
    alerts: list[Alert] = []
    with FalcoRun(FalcoTarget(kind="binary", binary=binary), plugin_path=default_library(), rules=default_rules(),
                  http_url=f"http://127.0.0.1:{port}/", workdir=workdir) as falco:
        src = {"type": "s3", "bucket": "org-trail", "endpoint_url": aws, "since": "2020-10-19T00:00:00Z",
               "until": "2020-10-20T00:00:00Z", "once": True}
        cfg = daemon_config(falco.socket_path, workdir / "state.db", [src],
                            falco={"socket": str(falco.socket_path), "listen": f"127.0.0.1:{port}", "quiet": 3.0})
        report = run_daemon(cfg, alerts)
    expected = yaml.safe_load((SEED / "expected_alerts.yaml").read_text(encoding="utf-8"))
    want = sorted(a["rule"] for a in expected["alerts"] if a["input"] == "cloudtrail")
    assert report.acked == 12
    assert sorted(a.rule for a in alerts) == want
    assert all(a.source == "aws_cloudtrail" for a in alerts)
