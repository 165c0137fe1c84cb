"""Forwarding throughput and added latency: HTTP intake -> routing -> durable SQLite queue ->
a local batching webhook destination, with `ctbridge forward` in its own process.

Runs, each against a fresh `ctbridge forward`:
  baseline:   the same HTTP posts to a receiver that parses and answers 200 with no queue and no
              destination (bare intake: the ceiling the client and HTTP parsing allow), and to
              the standard library's ThreadingHTTPServer doing the same (what the intake was
              built on before bridge/intake/server.py);
  throughput: N alerts as fast as the client threads can post them; alerts/s = N / (first post
              to last alert received by the webhook), the ratio to the baselines, and the CPU
              time the forward process spent per alert (steadier than rates on a shared machine);
  latency:    alerts paced at --rate alerts/s; for each alert, the time from its POST to its arrival
              at the webhook (p50, p99, max);
  memory:     (--memory N) N alerts through, RSS of the forward process sampled every 10%;
  stages:     in this process, Forwarder.handle() alone and one worker draining a full queue, to
              separate the bridge's own cost from the stdlib HTTP server's.

    .venv/bin/python bench/bench_forward.py [--alerts 50000] [--rate 1000] [--seconds 20] [--memory 1000000]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bridge.intake.http import HttpIntake  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alert(n: int) -> bytes:
    return orjson.dumps({
        "hostname": "ip-10-0-1-7", "priority": "Critical", "rule": "Delete Bucket Encryption",
        "source": "aws_cloudtrail", "tags": ["aws", "cloud"], "time": f"2020-10-19T17:21:05.{n:09d}Z",
        "output": f"17:21:05: Critical An encryption configuration for a bucket has been deleted (n={n} "
                  "user=arn:aws:sts::161134881107:assumed-role/TeamRole/MasterKey bucket=jd-1603127991)",
        "output_fields": {"ct.region": "us-east-1", "ct.user": "TeamRole", "s3.bucket": "jd-1603127991",
                          "bench.n": n, "bench.sent": time.time()}})


class Webhook:
    """The destination: takes JSON arrays (batches), records arrival time per alert number."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.sent: dict[int, float] = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.expect = 0
        hook = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                now = time.time()
                docs = orjson.loads(body)
                with hook.lock:
                    for d in docs if isinstance(docs, list) else [docs]:
                        f = d["output_fields"]
                        hook.arrived.setdefault(f["bench.n"], now)
                        hook.sent.setdefault(f["bench.n"], f["bench.sent"])
                    if hook.expect and len(hook.arrived) >= hook.expect:
                        hook.done.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self, expect: int) -> None:
        with self.lock:
            self.arrived.clear()
            self.sent.clear()
            self.expect = expect
            self.done.clear()


class RawClient:
    """A keep-alive HTTP/1.1 client on a plain socket: http.client's overhead would make the
    benchmark measure the client rather than the bridge."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def post(self, body: bytes) -> int:
        self.sock.sendall(b"POST / HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buf = rest[length:]
        return int(head[9:12])

    def close(self) -> None:
        self.sock.close()


def post_all(port: int, first: int, count: int, threads: int, rate: float = 0.0) -> float:
    """Post alerts first..first+count-1 over `threads` keep-alive connections; returns the start time."""
    start = time.time()

    def worker(k: int) -> None:
        c = RawClient(port)
        for n in range(first + k, first + count, threads):
            if rate:
                delay = start + (n - first) / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
            while c.post(alert(n)) != 200:
                time.sleep(0.01)  # 503: the queue is full; Falco would drop, we wait and resend
        c.close()

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return start


class Forwarder:
    def __init__(self, tmp: Path, hook_url: str, batch: int) -> None:
        self.port = _port()
        cfg = tmp / "forward.yaml"
        cfg.write_text(orjson.dumps({
            "intake": {"listen": f"127.0.0.1:{self.port}"},
            "queue": {"dir": str(tmp / "q"), "max_depth": 1_000_000},
            "destinations": [{"name": "hook", "type": "webhook", "url": hook_url,
                              "batch": {"max_events": batch, "interval": 0.005}}],
            "routes": [{"min_priority": "Warning", "to": ["hook"]}]}).decode())
        env = {**os.environ, "CTBRIDGE_LOG_LEVEL": "warning"}
        self.proc = subprocess.Popen([sys.executable, "-m", "bridge", "forward", "--config", str(cfg)], env=env,
                                     cwd=REPO)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("ctbridge forward did not start") from None
                time.sleep(0.1)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


_BARE = ("import sys, time; sys.path.insert(0, %r)\n"
         "from bridge.intake.http import HttpIntake\n"
         "i = HttpIntake(lambda a: None, port=%d); i.start(); time.sleep(3600)\n")
_STDLIB = ("import sys; sys.path.insert(0, %r)\n"
           "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
           "from bridge.intake.http import parse_body\n"
           "class H(BaseHTTPRequestHandler):\n"
           "    protocol_version = 'HTTP/1.1'\n"
           "    def do_POST(self):\n"
           "        parse_body(self.rfile.read(int(self.headers['Content-Length'])), 'application/json')\n"
           "        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()\n"
           "    def log_message(self, *a): pass\n"
           "s = ThreadingHTTPServer(('127.0.0.1', %d), H); s.daemon_threads = True; s.serve_forever()\n")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return "load %.1f" % os.getloadavg()[0]


def baseline(n: int, threads: int, code: str = _BARE) -> float:
    """An HTTP receiver in a child process: parse and answer, no queue, no destination."""
    port = _port()
    p = subprocess.Popen([sys.executable, "-c", code % (str(REPO), port)])
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        t0 = post_all(port, 0, n, threads)
        return n / (time.time() - t0)
    finally:
        p.terminate()
        p.wait(10)


def stages(n: int, hook: Webhook) -> None:
    """The bridge's own stages without the HTTP intake, in this process: Forwarder.handle (routing,
    id, encode, durable enqueue) from one thread, then one worker draining the queue to the webhook."""
    from bridge.model import Alert
    from bridge.route.forwarder import build_forwarder

    alerts = []
    for i in range(n):
        d = orjson.loads(alert(30_000_000 + i))
        alerts.append(Alert(time=d["time"], rule=d["rule"], priority=d["priority"], source=d["source"],
                            output=d["output"], hostname=d["hostname"], tags=tuple(d["tags"]),
                            output_fields=d["output_fields"]))
    with tempfile.TemporaryDirectory() as tmp:
        fwd = build_forwarder({"destinations": [{"name": "hook", "type": "webhook", "url": hook.url,
                                                 "batch": {"max_events": 500, "interval": 0.005}}],
                               "queue": {"dir": tmp, "max_depth": 10 * n}})
        t0 = time.perf_counter()
        for a in alerts:
            fwd.handle(a)
        t1 = time.perf_counter()
        hook.reset(n)
        fwd.start()
        hook.done.wait(300)
        t2 = time.perf_counter()
        fwd.close()
    print(f"stages    handle() alone (route+id+durable put): {n / (t1 - t0):9.0f} alerts/s; "
          f"worker drain to the webhook: {n / (t2 - t1):.0f} alerts/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--memory", type=int, default=0, help="also push this many alerts and sample RSS")
    args = ap.parse_args()
    _ = HttpIntake
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}")

    print(f"start     {load()}")
    base = baseline(args.alerts, args.threads)
    print(f"baseline  bare HTTP intake, no queue:      {base:9.0f} alerts/s")
    std = baseline(args.alerts, args.threads, _STDLIB)
    print(f"baseline  stdlib ThreadingHTTPServer:      {std:9.0f} alerts/s")

    hook = Webhook()
    stages(min(args.alerts, 50_000), hook)
    with tempfile.TemporaryDirectory() as tmp:
        fwd = Forwarder(Path(tmp), hook.url, args.batch)
        try:
            hook.reset(args.alerts)
            cpu0 = cpu_seconds(fwd.proc.pid)
            t0 = post_all(fwd.port, 0, args.alerts, args.threads)
            posted = time.time()
            hook.done.wait(300)
            end = max(hook.arrived.values())
            cpu = (cpu_seconds(fwd.proc.pid) - cpu0) / args.alerts * 1e6
            rate = args.alerts / (end - t0)
            print(f"forward   intake+route+queue+webhook:      {rate:9.0f} alerts/s "
                  f"(ratio {rate / base:.2f} to the bare intake, {rate / std:.2f} to stdlib; intake acked at "
                  f"{args.alerts / (posted - t0):.0f}/s; forward process {cpu:.0f} us CPU/alert; {load()})")

            n = int(args.rate * args.seconds)
            first = 10_000_000
            hook.reset(n)
            post_all(fwd.port, first, n, args.threads, rate=args.rate)
            hook.done.wait(120)
            lat = sorted((hook.arrived[k] - hook.sent[k]) * 1000 for k in hook.arrived)
            p99 = lat[int(len(lat) * 0.99) - 1]
            print(f"latency   at {args.rate:.0f} alerts/s for {args.seconds:.0f}s: p50 {statistics.median(lat):.1f} ms, "
                  f"p99 {p99:.1f} ms, max {lat[-1]:.1f} ms ({len(lat)} alerts; {load()})")

            if args.memory:
                first = 20_000_000
                step = args.memory // 10
                samples = []
                for k in range(10):
                    hook.reset(step)
                    post_all(fwd.port, first + k * step, step, args.threads)
                    hook.done.wait(600)
                    samples.append(fwd.rss_mb())
                print("memory    RSS (MB) every 10% of " + f"{args.memory} alerts: "
                      + " ".join(f"{s:.0f}" for s in samples))
        finally:
            fwd.close()


if __name__ == "__main__":
    main()
