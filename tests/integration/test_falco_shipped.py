"""falco_config/ as shipped, in the real Falco: both configs, every init_config spelling, the
sidecar `ctbridge run`, and a Falco restart in the middle of a run.

Falco comes from FALCO_BINARY or `falco` on PATH; without one these tests skip.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from falco_helpers import REPO, RULES, SEED, Expected, assert_alerts, free_port, read_alerts, run_bridge
from shipped import ShippedFalco, shipped_config

from bridge.falco.locate import has_grpc_output

pytestmark = pytest.mark.integration

Binary = tuple[str, tuple[int, int, int]]


@pytest.mark.parametrize(("config", "intake"), [("falco.yaml", "http"), ("falco-grpc.yaml", "grpc")])
def test_shipped_config_runs_the_seed_sidecar(
    falco_binary: Binary, plugin_path: str, short_tmp: Path, expected: Expected, config: str, intake: str
) -> None:
    binary, version = falco_binary
    if intake == "grpc" and not has_grpc_output(version):
        pytest.skip(f"Falco {'.'.join(map(str, version))} has no gRPC output (removed in 0.44)")
    port = free_port()
    cfg = shipped_config(config, short_tmp, plugin=plugin_path, rules=RULES, http_url=f"http://127.0.0.1:{port}/")
    falco = ShippedFalco(binary, cfg, short_tmp)
    try:
        falco.wait_ready(grpc=intake == "grpc")
        # socketMode: 0660 as written in the file (yaml-cpp hands the plugin the integer 432).
        assert falco.socket.stat().st_mode & 0o777 == 0o660
        args = [str(SEED), "--plugin", plugin_path, "--falco-socket", str(falco.socket), "--end-stream"]
        if intake == "grpc":
            args += ["--intake", "grpc", "--grpc-target", f"unix://{falco.grpc_socket}"]
        else:
            args += ["--listen", f"127.0.0.1:{port}"]
        assert_alerts(run_bridge(args, short_tmp / "alerts.jsonl"), expected.alerts)
        assert falco.proc.wait(60) == 0, falco.log()[-3000:]  # END -> plugin EOF -> Falco exits
    finally:
        falco.stop()


# Every way a user may write init_config in falco.yaml, as Falco itself parses it.
INIT_FORMS = {
    "yaml-quoted": '    init_config:\n      socketMode: "0660"\n      maxBatchEvents: "512"\n      skipInsights: "true"\n',
    "yaml-single-quoted": "    init_config:\n      socketMode: '0660'\n",
    "yaml-octal": "    init_config:\n      socketMode: 0660\n      idleTimeoutMs: 50\n",
    "yaml-digits": "    init_config:\n      socketMode: 660\n",
    "json-string": "    init_config: '{\"socketMode\": \"0660\", \"maxBatchEvents\": 512, \"skipInsights\": true}'\n",
    "json-integer": "    init_config: '{\"socketMode\": 432}'\n",
    # Falco hands an empty map to the plugin as JSON null; the socket keeps its default mode.
    "yaml-empty-map": "    init_config: {}\n",
}


@pytest.mark.parametrize("form", sorted(INIT_FORMS))
def test_init_config_in_every_spelling(
    falco_binary: Binary, plugin_path: str, short_tmp: Path, expected: Expected, form: str
) -> None:
    binary, _ = falco_binary
    port = free_port()
    cfg = shipped_config("falco.yaml", short_tmp, plugin=plugin_path, rules=RULES,
                         http_url=f"http://127.0.0.1:{port}/", init_config=INIT_FORMS[form])
    falco = ShippedFalco(binary, cfg, short_tmp)
    try:
        falco.wait_ready()
        want = 0o600 if form == "yaml-empty-map" else 0o660
        assert falco.socket.stat().st_mode & 0o777 == want, form
        alerts = run_bridge([str(SEED / expected.inputs["cloudtrail"]), "--plugin", plugin_path,
                             "--falco-socket", str(falco.socket), "--end-stream", "--listen", f"127.0.0.1:{port}"],
                            short_tmp / "alerts.jsonl")
        assert_alerts(alerts, expected.for_inputs("cloudtrail"))
    finally:
        falco.stop()


@pytest.mark.parametrize(("value", "words"), [('"0999"', "socketMode"), ('"rw-rw----"', "socketMode")])
def test_bad_socket_mode_stops_falco_with_the_key_named(
    falco_binary: Binary, plugin_path: str, short_tmp: Path, value: str, words: str
) -> None:
    binary, _ = falco_binary
    cfg = shipped_config("falco.yaml", short_tmp, plugin=plugin_path, rules=RULES, http_url="http://127.0.0.1:9/",
                         init_config=f"    init_config:\n      socketMode: {value}\n")
    falco = ShippedFalco(binary, cfg, short_tmp)
    try:
        rc = falco.proc.wait(60)
        assert rc != 0
        assert words in falco.log()
    finally:
        falco.stop()


def _run_cli(args: list[str], env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bridge", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or dict(os.environ), **kw)


def test_ctbridge_run_against_shipped_sidecar(
    falco_binary: Binary, plugin_path: str, short_tmp: Path, expected: Expected
) -> None:
    binary, _ = falco_binary
    port = free_port()
    cfg = shipped_config("falco.yaml", short_tmp, plugin=plugin_path, rules=RULES, http_url=f"http://127.0.0.1:{port}/")
    inbox = short_tmp / "inbox"
    shutil.copytree(SEED, inbox, ignore=shutil.ignore_patterns("*.md", "*.yaml"))
    falco = ShippedFalco(binary, cfg, short_tmp)
    try:
        falco.wait_ready()
        base = ["run", "--watch", str(inbox), "--falco-socket", str(falco.socket), "--listen", f"127.0.0.1:{port}",
                "--state", str(short_tmp / "state.db"), "--settle", "0", "--once", "--quiet", "3"]
        first = _run_cli([*base, "--out", str(short_tmp / "a1.jsonl")])
        _, err = first.communicate(timeout=180)
        assert first.returncode == 0, err[-3000:]
        assert_alerts(read_alerts(short_tmp / "a1.jsonl"), expected.alerts)
        # Run again on the same state: everything is checkpointed, nothing is sent twice.
        again = _run_cli([*base, "--out", str(short_tmp / "a2.jsonl")])
        _, err = again.communicate(timeout=180)
        assert again.returncode == 0, err[-3000:]
        assert read_alerts(short_tmp / "a2.jsonl") == []
    finally:
        falco.stop()


def _write_log(path: Path, ids: list[str], start: float) -> None:
    records = []
    for i, eid in enumerate(ids):
        records.append({
            "eventVersion": "1.08", "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i)),
            "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.30",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice",
                             "accountId": "123456789012", "userName": "alice"},
            "requestParameters": {"bucketName": "data", "key": f"k/{i}"}, "responseElements": None,
            "eventID": eid, "eventType": "AwsApiCall", "recipientAccountId": "123456789012", "readOnly": True,
        })
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))


COUNT_RULE = """\
- required_engine_version: 0.10.0
- rule: Record Seen
  desc: every record, to count what Falco received
  condition: ct.id != ""
  output: seen %ct.id
  priority: INFO
  source: aws_cloudtrail
"""


def _seen(path: Path) -> list[str]:
    if not path.exists():
        return []
    # Falco may be writing the last line while we read: only whole (newline-ended) lines count.
    whole = path.read_text().rpartition("\n")[0]
    return [json.loads(line)["output_fields"]["ct.id"] for line in whole.splitlines() if line.strip()]


def test_falco_restart_in_the_middle_of_run_loses_nothing(
    falco_binary: Binary, plugin_path: str, short_tmp: Path
) -> None:
    binary, _ = falco_binary
    rules = short_tmp / "rules"
    rules.mkdir()
    (rules / "count.yaml").write_text(COUNT_RULE)
    inbox = short_tmp / "inbox"
    inbox.mkdir()
    files, per_file = 16, 1000
    ids = [[str(uuid.uuid4()) for _ in range(per_file)] for _ in range(files)]
    for n in range(files // 2):  # the first half is there before Falco starts
        _write_log(inbox / f"f{n:02d}.json.gz", ids[n], 1_700_000_000 + n * per_file)
    cfg = shipped_config("falco.yaml", short_tmp, plugin=plugin_path, rules=rules, http_url="http://127.0.0.1:9/")

    def start_falco(tag: str) -> ShippedFalco:
        f = ShippedFalco(binary, cfg, short_tmp, ("-U", "-o", "http_output.enabled=false", "-o", "file_output.enabled=true",
                                                  "-o", f"file_output.filename={short_tmp / f'seen-{tag}.jsonl'}"))
        f.wait_ready()
        return f

    falco_a = start_falco("a")
    bridge = _run_cli(["run", "--watch", str(inbox), "--falco-socket", str(falco_a.socket), "--listen",
                       f"127.0.0.1:{free_port()}", "--state", str(short_tmp / "state.db"), "--settle", "0",
                       "--poll", "0.2", "--out", str(short_tmp / "alerts.jsonl")])
    falco_b = None
    try:
        deadline = time.monotonic() + 60
        while not _seen(short_tmp / "seen-a.jsonl") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _seen(short_tmp / "seen-a.jsonl"), falco_a.log()[-2000:]
        assert falco_a.stop(signal.SIGTERM) is not None  # a restart while records are in flight
        for n in range(files // 2, files):  # the second half arrives while Falco is down
            _write_log(inbox / f"f{n:02d}.json.gz", ids[n], 1_700_000_000 + n * per_file)
        falco_b = start_falco("b")
        want = {i for chunk in ids for i in chunk}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            got = set(_seen(short_tmp / "seen-a.jsonl")) | set(_seen(short_tmp / "seen-b.jsonl"))
            if got >= want:
                break
            time.sleep(0.2)
        seen_a, seen_b = _seen(short_tmp / "seen-a.jsonl"), _seen(short_tmp / "seen-b.jsonl")
        missing = want - set(seen_a) - set(seen_b)
        assert not missing, f"{len(missing)} records never reached Falco; bridge: {bridge.stderr}"
        assert seen_b, "the restarted Falco received nothing"
        dups = len(seen_a) + len(seen_b) - len(want)
        # docs/ingest-protocol.md: only the batches in flight when Falco stopped may be seen twice
        assert 0 <= dups <= 8 * 512, dups
        assert len(set(seen_b)) == len(seen_b), "one Falco saw a record twice"
    finally:
        bridge.send_signal(signal.SIGTERM)
        try:
            bridge.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            bridge.kill()
        falco_a.stop()
        if falco_b is not None:
            falco_b.stop()
