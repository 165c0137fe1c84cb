"""Scale-out with real parts: two bridge replicas (`ctbridge run --config`, each beside its own
Falco 0.43.1 with the plugin in socket mode) compete for one SQS queue of S3 notifications (moto,
server mode); both Falcos post their alerts to one `ctbridge forward`, whose webhook destination
is a local HTTP server. One replica's bridge is SIGKILLed once its Falco has raised an alert,
while it still holds that record's message: the message comes back after its visibility timeout,
the other replica delivers it again, and its Falco raises those alerts a second time. The
forward's dedup on the alert id (no hostname for aws_cloudtrail) must let exactly one through.

The webhook is tests/sinks/recorder.py's HTTP server standing in for a SOAR endpoint (the
webhook destination's exact request is covered by tests/sinks/test_webhook.py).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import orjson
import pytest
import yaml
from ct import free_port, key_for, log_file, record, wait_for
from sinks.recorder import Recorder

from bridge.falco.locate import FalcoTarget
from bridge.falco.runner import FalcoRun

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RULE = "Bucket Encryption Deleted (replica test)"
RULES = f"""\
- rule: {RULE}
  desc: one alert per DeleteBucketEncryption record
  condition: ct.name = "DeleteBucketEncryption"
  output: encryption deleted on %s3.bucket (event id=%ct.id)
  priority: WARNING
  source: aws_cloudtrail
"""
FILES, PER_FILE, EVERY = 8, 12000, 400  # 240 of the 96,000 records match the rule
VISIBILITY = 10  # seconds; the SQS source's minimum, so a killed replica's messages return soon


@pytest.fixture
def falco() -> str:
    binary = os.environ.get("FALCO_BINARY") or shutil.which("falco")
    if binary is None:
        pytest.skip("no Falco binary: set FALCO_BINARY or put `falco` on PATH (two real Falcos needed)")
    return binary


@pytest.fixture
def plugin() -> str:
    path = Path(os.environ.get("CTBRIDGE_PLUGIN", REPO / "build/plugin/libctbridge.so"))
    if not path.is_file():
        pytest.skip(f"plugin library {path} is not built (run `make plugin`)")
    return str(path.resolve())


@pytest.fixture
def work() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="ctb-rep-"))  # short: unix socket paths are limited to 108 bytes
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _trail(endpoint: str) -> tuple[str, list[str]]:
    """A trail bucket whose new objects notify an SQS queue (moto sends the S3 notifications);
    returns the queue URL and the eventIDs the rule matches."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="trail")
    url = sqs.create_queue(QueueName="ct-notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket="trail", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    now = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)
    matching = []
    for f in range(FILES):
        recs = []
        for i in range(PER_FILE):
            t = now - datetime.timedelta(minutes=FILES - f, seconds=i % 60)
            when = t.strftime("%Y-%m-%dT%H:%M:%SZ")
            if i % EVERY == 0:  # the first record of each file matches: a replica's first alert
                recs.append(record(f"r{f}-{i}", when, eventName="DeleteBucketEncryption"))
                matching.append(f"r{f}-{i}")
            else:
                recs.append(record(f"r{f}-{i}", when))
        key = key_for("111111111111", "us-east-1", now, f"R{f}")
        s3.put_object(Bucket="trail", Key=key, Body=log_file(recs))
    return url, matching


def _queued(url: str, endpoint: str) -> int:
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return sum(int(a[k]) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                   "ApproximateNumberOfMessagesDelayed"))


def _raised(run: FalcoRun) -> list[str]:
    """ct.id of every alert this Falco raised (its stdout output, one JSON line per alert)."""
    ids = []
    for line in run.stdout_path.read_bytes().split(b"\n")[:-1]:  # the last one may be half written
        if line.startswith(b"{"):
            a = orjson.loads(line)
            if a.get("rule") == RULE:
                ids.append(a["output_fields"]["ct.id"])
    return ids


def _metric(ops: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{ops}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _replica_config(work: Path, name: str, sock: Path, url: str, endpoint: str) -> Path:
    cfg = work / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({
        # falco.listen is unused here: this replica's Falco posts to the shared forward.
        "falco": {"socket": str(sock), "listen": f"127.0.0.1:{free_port()}", "connect_timeout": 30},
        "state": {"path": str(work / f"{name}.db")},
        "readers": 2,
        "sources": [{"type": "sqs", "name": "trail-queue", "queue_url": url, "endpoint_url": endpoint,
                     "region": "us-east-1", "wait_time": 1, "visibility_timeout": VISIBILITY,
                     "retry_delay": 1, "receivers": 1, "max_messages": 2}],
    }))
    return cfg


def test_replicas_sharing_a_queue_raise_each_alert_once(
        aws: str, falco: str, plugin: str, work: Path, monkeypatch: pytest.MonkeyPatch,
        record_property: Callable[[str, object], None]) -> None:
    url, matching = _trail(aws)
    (work / "rules.yaml").write_text(RULES)
    hook = Recorder()
    port, ops = free_port(), free_port()
    fwd_cfg = work / "forward.yaml"
    fwd_cfg.write_text(yaml.safe_dump({
        "intake": {"listen": f"127.0.0.1:{port}"}, "ops": {"listen": f"127.0.0.1:{ops}"},
        "queue": {"dir": str(work / "queue")},
        # The window covers a message's return after its visibility timeout, with room to spare.
        "destinations": [{"name": "hook", "type": "webhook", "url": hook.url, "dedup_window": 600,
                          "batch": {"max_events": 1}}],
    }))
    procs: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        stack.callback(hook.close)
        fwd = _start([sys.executable, "-m", "bridge", "forward", "--config", str(fwd_cfg)],
                     work / "forward.log")
        stack.callback(_stop, fwd)
        assert wait_for(lambda: _up(ops) and _up(port), 30), (work / "forward.log").read_text()
        falcos: dict[str, FalcoRun] = {}
        for name in ("a", "b"):
            monkeypatch.setenv("FALCO_HOSTNAME", f"ctbridge-daemon-{name}")  # two pods, two hostnames
            falcos[name] = stack.enter_context(FalcoRun(
                FalcoTarget(kind="binary", binary=falco), plugin_path=plugin,
                rules=[str(work / "rules.yaml")], http_url=f"http://127.0.0.1:{port}/",
                workdir=work / f"falco-{name}",
                # -U: Falco 0.43 ignores buffered_outputs, and _raised reads stdout while it runs
                extra_options=["-o", "stdout_output.enabled=true", "-U"]))
        for name in ("a", "b"):
            cfg = _replica_config(work, name, falcos[name].socket_path, url, aws)
            argv = [sys.executable, "-m", "bridge", "run", "--config", str(cfg)]
            procs.append(_start(argv, work / f"{name}.log"))
            stack.callback(_stop, procs[-1])
        a, b = procs

        # Replica a's Falco raised its first alert: a still holds that record's message (12,000
        # records; a message is deleted only once all of them were ACKed). Kill it.
        assert wait_for(lambda: bool(_raised(falcos["a"])) or a.poll() is not None, 60), _logs(work)
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        killed_after = len(_raised(falcos["a"]))

        # Replica b takes every message, the killed one's after its visibility timeout.
        assert wait_for(lambda: _queued(url, aws) == 0, 90), (_queued(url, aws), _logs(work))
        _stop(b)
        assert b.returncode == 0, _logs(work)
        for f in falcos.values():
            f.terminate()  # SIGTERM: Falco posts what is left in its output queue, then its stdout is whole
        raised = {n: _raised(f) for n, f in falcos.items()}
        total = len(raised["a"]) + len(raised["b"])

        def metric(name: str) -> float:
            return _metric(ops, f"ctbridge_forward_{name}_total")

        # Every alert either Falco raised reached the forward and was sent once or dropped as a repeat.
        assert wait_for(lambda: metric("sent") + metric("deduplicated") == total, 60), (
            total, metric("sent"), metric("deduplicated"), _logs(work))
        deduplicated = metric("deduplicated")
    got = Counter(r.json()["output_fields"]["ct.id"] for r in hook.accepted)

    both = set(raised["a"]) & set(raised["b"])
    for k, v in {"a_raised_before_kill": killed_after, "a_raised": len(raised["a"]),
                 "b_raised": len(raised["b"]), "raised_by_both": len(both),
                 "forward_deduplicated": deduplicated, "webhook_alerts": len(hook.accepted)}.items():
        record_property(k, v)
    assert killed_after >= 1 and both, f"the kill did not land mid-message: a raised {raised['a']}"
    assert sorted(got) == sorted(matching)  # none lost
    assert max(got.values()) == 1, [k for k, n in got.items() if n > 1]  # none twice
    # Every repeat the two Falcos raised was dropped by the forward's dedup, and nothing else was.
    assert deduplicated == total - len(set(raised["a"]) | set(raised["b"])) >= len(both)
    # a's alerts reached the forward first and were kept; b's repeats of them were dropped.
    assert {r.json()["hostname"] for r in hook.accepted} == {"ctbridge-daemon-a", "ctbridge-daemon-b"}


def _up(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def _logs(work: Path) -> str:
    out = []
    for name in ("forward.log", "a.log", "b.log"):
        p = work / name
        if p.exists():
            out.append(f"--- {name}\n" + p.read_text(errors="replace")[-2000:])
    return "\n".join(out)
