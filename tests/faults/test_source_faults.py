"""Faults on the intake side: the bridge SIGKILLed mid-file, the plugin socket vanishing (Falco
restart), throttling and 5xx storms from AWS (a proxy in front of moto injects them)."""

from __future__ import annotations

import datetime
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from aws import FAKE_CREDENTIALS
from ct import PluginFalco, Running, daemon_config, free_port, key_for, log_file, record, run_daemon, wait_for

REPO = Path(__file__).resolve().parents[2]
NOW = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)
A1 = "111111111111"
WINDOW, BATCH = 8, 512  # PluginClient defaults: at most this many records are in flight


def _bucket(endpoint: str, files: int, per_file: int) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="trail")
    ids = []
    for f in range(files):
        recs = [record(f"k{f}-{i}", requestParameters={"pad": "x" * 400}) for i in range(per_file)]
        t = NOW - datetime.timedelta(minutes=50 - f)
        s3.put_object(Bucket="trail", Key=key_for(A1, "us-east-1", t, f"K{f}"), Body=log_file(recs))
        ids += [r["eventID"] for r in recs]
    return ids


# enrich on: every record goes through client.send (the enricher adds a key to each); off: whole
# files take the packed path (send_packed, one mark per file): the journal must cover both.
PATHS = [(False, True), (True, True), (False, False), (True, False)]
PATH_IDS = ["flowing-per_record", "held-per_record", "flowing-packed", "held-packed"]


@pytest.mark.parametrize(("held", "enrich"), PATHS, ids=PATH_IDS)
def test_sigkill_mid_file_then_restart_delivers_each_record_once(aws: str, plugin_falco: PluginFalco, tmp_path: Path,
                                                                 held: bool, enrich: bool) -> None:
    falco = plugin_falco
    ids = _bucket(aws, files=4, per_file=5000)
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump({
        "falco": {"socket": str(falco.sock), "listen": f"127.0.0.1:{free_port()}", "quiet": 0},
        "state": {"path": str(tmp_path / "state.db")},
        "sources": [{"type": "s3", "bucket": "trail", "since": "2h", "once": True, "endpoint_url": aws}],
        "exit_when_idle": True, "readers": 1, "enrich": {"enabled": enrich},
    }))
    env = {**os.environ, **FAKE_CREDENTIALS}
    argv = [sys.executable, "-m", "bridge", "run", "--config", str(conf)]
    falco.running.clear()  # Falco is slow: the kill lands while the first file is still being sent
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        falco.running.set()
        _sigkill_once_taken(proc, falco, 3000, held)
    finally:
        assert proc.stderr is not None
        proc.stderr.close()
    first = len(falco.ids())
    assert 0 < first < len(ids), "killed mid-stream"
    res = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert wait_for(lambda: len(falco.ids()) >= len(ids), 10)
    time.sleep(0.3)
    got = Counter(falco.ids())
    assert set(got) == set(ids)  # nothing lost
    # The journal and WELCOME told the restart what the plugin held: nothing is sent twice.
    assert sum(n - 1 for n in got.values()) == 0, sum(n - 1 for n in got.values())
    res = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "delivered 0 records" in res.stderr  # every object is complete


def _sigkill_once_taken(proc: subprocess.Popen[bytes], falco: PluginFalco, taken: int, held: bool) -> None:
    """SIGKILLs the bridge once Falco has taken `taken` records; from there Falco takes one batch
    per 50 ms (ACKs flowing), or with `held` first stops taking, so the plugin ACKs nothing more
    while the bridge fills its window. Either way the kill lands with work left: with the C fast
    path the bridge delivered all 18,000 records of the SQS case before a kill at 6,000 landed."""
    falco.slow_after = taken
    try:
        assert wait_for(lambda: falco.taken() >= taken, 60)
        if held:
            falco.running.clear()
            time.sleep(1.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        falco.running.set()
        falco.slow_after = None


def _daemon_waiting_for_falco(aws: str, tmp_path: Path, files: int, per_file: int
                              ) -> tuple[list[str], Path, PluginFalco, Running]:
    """A bucket, a plugin listening, and a daemon that waits for Falco as long as it takes
    (connect_timeout 0), for the tests that take the plugin away under it."""
    from plugin_abi import default_library

    if not Path(default_library()).is_file():
        pytest.skip("plugin library not built")
    ids = _bucket(aws, files=files, per_file=per_file)
    sock = tmp_path / "ingest.sock"
    first = PluginFalco(sock)
    first.start()
    src = {"type": "s3", "bucket": "trail", "endpoint_url": aws, "since": "2h", "once": True}
    cfg = daemon_config(sock, tmp_path / "s.db", [src])
    cfg = type(cfg)(**{**cfg.__dict__, "falco": type(cfg.falco)(**{**cfg.falco.__dict__, "connect_timeout": 0.0})})
    return ids, sock, first, Running(cfg)


def test_plugin_socket_vanishing_stalls_and_resumes(aws: str, tmp_path: Path) -> None:
    ids, sock, first, d = _daemon_waiting_for_falco(aws, tmp_path, files=3, per_file=3000)
    second = None
    try:
        assert wait_for(lambda: len(first.ids()) >= 2000, 60)
        first.close()  # Falco restarts: the plugin and its socket are gone
        taken_first = first.ids()
        time.sleep(1.0)
        second = PluginFalco(sock)  # the new Falco's plugin listens again
        second.start()
        assert wait_for(lambda: not d.thread.is_alive(), 120)
    finally:
        report = d.stop()
        if second is not None:
            second.close()
    got = Counter(taken_first + (second.ids() if second else []))
    assert set(got) == set(ids)
    assert sum(n - 1 for n in got.values()) <= WINDOW * BATCH
    assert report.works_done == 3


def test_plugin_gone_after_the_last_send_is_reconnected_while_idle(aws: str, tmp_path: Path) -> None:
    """The hang behind test_plugin_socket_vanishing_stalls_and_resumes: everything was sent, the
    ACKs were outstanding, the plugin restarted. Only send/flush/wait_acked reconnected, and an
    idle daemon (nothing more to send) waits for its S3 objects to complete, i.e. for those ACKs:
    it waited forever. Under load Falco can fall far enough behind for this to happen mid-test."""
    ids, sock, first, d = _daemon_waiting_for_falco(aws, tmp_path, files=2, per_file=100)
    second = None
    try:
        # Connected (WELCOME comes before the sources start): now Falco takes nothing more, so
        # the batches sent from here on wait for their ACKs (their bytes in the socket buffer).
        deadline = time.monotonic() + 30
        while not d.connected() and time.monotonic() < deadline:
            time.sleep(0.001)  # tight: the S3 listing that follows takes longer than this
        first.running.clear()
        assert not first.ids(), "Falco took records before it was held: nothing to test"
        client = lambda: d.daemon._client  # noqa: E731
        assert wait_for(lambda: client() is not None and client().stats.records_sent == len(ids)  # type: ignore[union-attr]
                        and client().unacked_batches > 0, 60)  # type: ignore[union-attr]
        time.sleep(0.5)  # idle: nothing left to send
        first._halt.set()
        first.close()  # Falco restarts with the ACKs outstanding; the new plugin has nothing
        second = PluginFalco(sock)
        second.start()
        assert wait_for(lambda: not d.thread.is_alive(), 30), "the idle daemon never reconnected"
    finally:
        report = d.stop()
        if second is not None:
            second.close()
    assert sorted(second.ids() if second else []) == sorted(ids)
    assert report.works_done == 2


class FaultProxy:
    """An HTTP proxy in front of moto: of every `every` tries of the same request (method, path,
    body), the first gets a throttling or 5xx answer, so every request meets the storm and only a
    retry gets through. Counting per request rather than globally keeps concurrent clients (SQS
    receivers beside the S3 lister) from falling into lockstep with the fault pattern, which
    AWS's errors have no reason to do."""

    def __init__(self, upstream: str, every: int = 2) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.injected: Counter[str] = Counter()
        self.passed: list[tuple[str, bytes, int]] = []  # (X-Amz-Target, body, status) of answered requests
        self.count = 0
        self.tries: Counter[tuple[str, str, bytes]] = Counter()
        lock = threading.Lock()
        outer = self
        faults = [(503, "SlowDown", "Please reduce your request rate."), (500, "InternalError", "oops"),
                  (503, "ServiceUnavailable", "busy")]

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    outer.count += 1
                    n = outer.count
                    key = (self.command, self.path, body)
                    outer.tries[key] += 1
                    first_of_round = every > 0 and outer.tries[key] % every == 1  # 0: no faults
                if first_of_round:
                    code, err, msg = faults[n % len(faults)]
                    outer.injected[err] += 1
                    data = f"<Error><Code>{err}</Code><Message>{msg}</Message></Error>".encode()
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                conn = http.client.HTTPConnection(outer.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = outer.upstream
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()
                with lock:
                    outer.passed.append((self.headers.get("X-Amz-Target", ""), body, resp.status))

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_throttling_and_5xx_storm_are_retried(aws: str, plugin_falco: PluginFalco, tmp_path: Path) -> None:
    ids = _bucket(aws, files=6, per_file=50)
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    url = sqs.create_queue(QueueName="ct")["QueueUrl"]
    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(
            {"detail-type": "AWS API Call via CloudTrail", "detail": record(f"q{n}")}))
    proxy = FaultProxy(aws, every=2)  # every request fails once (SlowDown, 500 or 503) before it passes
    try:
        sources = [{"type": "s3", "bucket": "trail", "endpoint_url": proxy.url, "since": "2h", "once": True},
                   {"type": "sqs", "queue_url": url, "endpoint_url": proxy.url, "wait_time": 1}]
        d = Running(daemon_config(plugin_falco.sock, tmp_path / "s.db", sources, exit_when_idle=False))
        try:
            want = set(ids) | {f"q{n}" for n in range(5)}
            assert wait_for(lambda: set(plugin_falco.ids()) == want, 120), len(plugin_falco.ids())
            a = lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]  # noqa: E731
            assert wait_for(lambda: a()["ApproximateNumberOfMessages"] == "0"
                            and a()["ApproximateNumberOfMessagesNotVisible"] == "0", 60)
        finally:
            d.stop()
    finally:
        proxy.close()
    assert sorted(plugin_falco.ids()) == sorted(want)
    assert {"SlowDown", "InternalError", "ServiceUnavailable"} <= set(proxy.injected)


@pytest.mark.parametrize(("held", "enrich"), PATHS[:3], ids=PATH_IDS[:3])
def test_sqs_sigkill_then_restart_each_record_once_each_message_deleted_once(
        aws: str, plugin_falco: PluginFalco, tmp_path: Path, held: bool, enrich: bool) -> None:
    falco = plugin_falco
    s3 = boto3.client("s3", endpoint_url=aws, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="trail")
    url = sqs.create_queue(QueueName="ct")["QueueUrl"]
    ids = []
    files = 12
    for f in range(files):
        recs = [record(f"s{f}-{i}", requestParameters={"pad": "x" * 400}) for i in range(1500)]
        key = key_for(A1, "us-east-1", NOW - datetime.timedelta(minutes=f), f"S{f}")
        s3.put_object(Bucket="trail", Key=key, Body=log_file(recs))
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"s3Bucket": "trail", "s3ObjectKey": [key]}))
        ids += [r["eventID"] for r in recs]
    proxy = FaultProxy(aws, every=0)  # no faults: it counts the bridge's deletes
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump({
        "falco": {"socket": str(falco.sock), "listen": f"127.0.0.1:{free_port()}", "quiet": 0},
        "state": {"path": str(tmp_path / "state.db")},
        "sources": [{"type": "sqs", "queue_url": url, "endpoint_url": proxy.url, "wait_time": 1,
                     "visibility_timeout": 10, "retry_delay": 1}],
        "enrich": {"enabled": enrich},
    }))
    env = {**os.environ, **FAKE_CREDENTIALS}
    argv = [sys.executable, "-m", "bridge", "run", "--config", str(conf)]

    def queued() -> int:
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])

    def deletes() -> int:
        with_ok = [json.loads(body) for target, body, status in list(proxy.passed)
                   if status == 200 and target.endswith((".DeleteMessageBatch", ".DeleteMessage"))]
        return sum(len(b.get("Entries", [])) or 1 for b in with_ok)

    try:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _sigkill_once_taken(proc, falco, 6000, held)
        assert len(set(falco.ids())) < len(ids) and queued() > 0  # killed with work left
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # Messages the dead process held come back after their visibility timeout.
            assert wait_for(lambda: set(falco.ids()) == set(ids) and queued() == 0, 120), (
                len(set(falco.ids())), queued())
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    finally:
        proxy.close()
    got = Counter(falco.ids())
    assert sum(n - 1 for n in got.values()) == 0, sum(n - 1 for n in got.values())  # each record once
    assert deletes() == files  # each message deleted once, none before its records were in the plugin
