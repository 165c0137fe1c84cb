"""End to end in a real Falco: the plugin reads samples/seed itself, Falco's http_output posts to
`ctbridge forward`, which delivers every seed alert to a local webhook and to an SNS topic in moto
(read back through an SQS queue subscribed to it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import orjson
import pytest
import yaml
from sinks.recorder import Recorder

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "samples" / "seed"

pytestmark = pytest.mark.integration


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_seed_alerts_reach_a_webhook_and_sns(tmp_path: Path, aws: str) -> None:
    falco = os.environ.get("FALCO_BINARY") or shutil.which("falco")
    if falco is None:
        pytest.skip("no Falco binary: set FALCO_BINARY or put `falco` on PATH")
    plugin = Path(os.environ.get("CTBRIDGE_PLUGIN", REPO / "build/plugin/libctbridge.so"))
    if not plugin.is_file():
        pytest.skip(f"plugin library {plugin} is not built (run `make plugin`)")
    # The plugin's own file reader takes CloudTrail log files; EventBridge envelopes (the seed's
    # eventbridge.jsonl) are unwrapped by the bridge's normalize stage, so they are not part of this run.
    expected = [a for a in yaml.safe_load((SEED / "expected_alerts.yaml").read_text())["alerts"]
                if a["input"] == "cloudtrail"]

    sns = boto3.client("sns", endpoint_url=aws, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    topic = sns.create_topic(Name="falco-alerts")["TopicArn"]
    q = sqs.create_queue(QueueName="sub")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})

    rec = Recorder()
    port = _port()
    cfg = tmp_path / "forward.yaml"
    cfg.write_text(orjson.dumps({
        "intake": {"listen": f"127.0.0.1:{port}"}, "queue": {"dir": str(tmp_path / "q")},
        "destinations": [{"name": "hook", "type": "webhook", "url": rec.url},
                         {"name": "sns", "type": "aws_sns", "topic_arn": topic, "endpoint_url": aws,
                          "region": "us-east-1"}]}).decode())
    fconf = yaml.safe_load((REPO / "falco_config" / "falco.yaml").read_text())
    fconf["plugins"][0]["library_path"] = str(plugin)
    fconf["plugins"][0]["open_params"] = f"file://{SEED / 'expected_alerts.yaml'}".replace(
        "expected_alerts.yaml", yaml.safe_load((SEED / "expected_alerts.yaml").read_text())["inputs"]["cloudtrail"])
    fconf["rules_files"] = [str(REPO / "rules")]
    fconf["http_output"]["url"] = f"http://127.0.0.1:{port}/"
    (tmp_path / "falco.yaml").write_text(yaml.safe_dump(fconf))

    log = open(tmp_path / "forward.log", "wb")  # noqa: SIM115 - closed below
    fwd = subprocess.Popen([sys.executable, "-m", "bridge", "forward", "--config", str(cfg)], cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and fwd.poll() is None
                time.sleep(0.1)
        done = subprocess.run([falco, "-c", str(tmp_path / "falco.yaml"), "--disable-source", "syscall"],
                              capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        deadline = time.monotonic() + 60
        while len(rec.accepted) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.1)
        got = {}
        while len(got) < len(expected) and time.monotonic() < deadline:
            for m in sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                body = orjson.loads(m["Body"])
                got[body["id"]] = body
    finally:
        fwd.terminate()
        fwd.wait(20)
        log.close()
        rec.close()
    want = sorted((a["rule"], a["output_fields"]["ct.id"]) for a in expected)
    hook = sorted((r.json()["rule"], r.json()["output_fields"]["ct.id"]) for r in rec.accepted)
    assert len(want) == 5 and hook == want
    assert sorted((b["rule"], b["output_fields"]["ct.id"]) for b in got.values()) == want
