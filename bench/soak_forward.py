"""Soak (not in CI): a webhook destination down for minutes, with the DEFAULT retry settings.

`ctbridge forward` runs in its own process with a webhook destination that sets nothing but its
name, type and URL (backoff_base 1 s, backoff_max 300 s, default timeout and batching). Alerts
are posted to the intake at --rate throughout: --before seconds with the webhook up, --down
seconds with it down (--outage refuse: its port closed, open connections dropped without an
answer; --outage hang: requests taken and never answered, so each try ends in the sender's
timeout), then until everything has arrived after it is back. Checks: every alert delivered exactly once, in the
order posted, nothing dead-lettered. Reports the time to drain after recovery, the first
delivery after it, and the peaks of queue depth and oldest age read from /metrics.

    .venv/bin/python bench/soak_forward.py [--down 180] [--rate 20] [--before 10] [--after 30]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_forward import _port  # noqa: E402  (bench/ is on sys.path when run as a script)
from bridge.queue.store import Store  # noqa: E402


def alert(n: int) -> bytes:
    return orjson.dumps({
        "hostname": "ip-10-0-1-7", "priority": "Critical", "rule": "Soak", "source": "syscall",
        "tags": ["soak"], "time": f"2026-11-30T00:00:00.{n:09d}Z", "output": f"soak alert {n}",
        "output_fields": {"soak.n": n}})


class Webhook:
    """The destination, on a fixed port so it can come back where the forwarder expects it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.arrivals: list[tuple[float, int]] = []  # (time, alert number), every delivery
        self.lock = threading.Lock()
        self.up = False
        self.hanging = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        hook = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.hanging.is_set():  # accepted, never answered: the sender's timeout fires
                    while hook.hanging.is_set():
                        time.sleep(0.1)
                    self.close_connection = True
                    return
                if not hook.up:  # a keep-alive connection from before the outage: drop it unanswered
                    self.close_connection = True
                    return
                docs = orjson.loads(body)
                now = time.time()
                with hook.lock:
                    for d in docs if isinstance(docs, list) else [docs]:
                        hook.arrivals.append((now, d["output_fields"]["soak.n"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.server.daemon_threads = True
        self.up = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.up = False
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()  # new connections are refused
            self.server = None

    def hang(self, on: bool) -> None:
        if on:
            self.hanging.set()
        else:
            self.hanging.clear()

    def delivered(self) -> list[int]:
        with self.lock:
            return [n for _, n in self.arrivals]


def metric(ops: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{ops}/metrics", timeout=5).read().decode()
    m = re.search(rf'^{name}{{destination="hook"}} ([0-9.e+-]+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--down", type=float, default=180.0, help="seconds the webhook is down")
    ap.add_argument("--rate", type=float, default=20.0, help="alerts posted per second throughout")
    ap.add_argument("--before", type=float, default=10.0, help="seconds of posting before the outage")
    ap.add_argument("--after", type=float, default=30.0, help="seconds of posting after recovery")
    ap.add_argument("--outage", choices=["refuse", "hang"], default="refuse",
                    help="refuse: port closed, connections dropped; hang: requests taken, never answered")
    args = ap.parse_args()

    hook_port, port, ops = _port(), _port(), _port()
    hook = Webhook(hook_port)
    hook.start()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "forward.yaml"
        cfg.write_text(json.dumps({
            "intake": {"listen": f"127.0.0.1:{port}"}, "ops": {"listen": f"127.0.0.1:{ops}"},
            "queue": {"dir": str(Path(tmp) / "q")},
            "destinations": [{"name": "hook", "type": "webhook", "url": f"http://127.0.0.1:{hook_port}/"}]}))
        log = open(Path(tmp) / "forward.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "bridge", "forward", "--config", str(cfg)], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=log)
        peaks = {"depth": 0.0, "oldest_s": 0.0}
        stop_sampling = threading.Event()

        def sample() -> None:
            while not stop_sampling.wait(1.0):
                try:
                    peaks["depth"] = max(peaks["depth"], metric(ops, "ctbridge_forward_queue_depth"))
                    peaks["oldest_s"] = max(peaks["oldest_s"], metric(ops, "ctbridge_forward_queue_oldest_seconds"))
                except OSError:
                    pass

        try:
            deadline = time.time() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError("ctbridge forward did not start") from None
                    time.sleep(0.1)
            threading.Thread(target=sample, daemon=True).start()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            posted = 0
            t0 = time.time()
            down_at = t0 + args.before
            up_at = down_at + args.down
            end_at = up_at + args.after
            went_down = came_up = False
            recovered = 0.0
            posted_before_recovery = 0
            while time.time() < end_at:
                now = time.time()
                if not went_down and now >= down_at:
                    hook.hang(True) if args.outage == "hang" else hook.stop()
                    went_down = True
                    print(f"{now - t0:6.1f}s webhook down ({posted} alerts posted)", flush=True)
                if not came_up and now >= up_at:
                    hook.hang(False) if args.outage == "hang" else hook.start()
                    came_up = True
                    recovered = time.time()
                    posted_before_recovery = posted
                    print(f"{now - t0:6.1f}s webhook back ({posted} alerts posted, "
                          f"{len(hook.delivered())} delivered)", flush=True)
                conn.request("POST", "/", alert(posted), {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError(f"alert {posted}: intake answered {r.status}")
                posted += 1
                delay = t0 + posted / args.rate - time.time()
                if delay > 0:
                    time.sleep(delay)
            conn.close()
            # wait for the rest (the next retry may be minutes after recovery with backoff_max 300)
            wait_until = time.time() + 600
            while len(set(hook.delivered())) < posted and time.time() < wait_until:
                time.sleep(0.5)
            stop_sampling.set()
        finally:
            proc.terminate()
            proc.wait(30)
            hook.stop()
            log.close()
        dead = Store(Path(tmp) / "q" / "hook" / "queue.db").dead_count()
        retries = (Path(tmp) / "forward.log").read_text(errors="replace").count("retrying in")
        log_tail = (Path(tmp) / "forward.log").read_text(errors="replace").splitlines()[-5:]

    with hook.lock:
        arrivals = list(hook.arrivals)
    got = [n for _, n in arrivals]
    first_after = next((t for t, n in arrivals if t >= recovered), None)
    drained = max((t for t, n in arrivals if n < posted_before_recovery), default=recovered)
    result = {
        "outage": args.outage, "down_s": args.down, "rate": args.rate, "posted": posted, "delivered": len(got),
        "distinct": len(set(got)), "in_order": got == sorted(got), "dead_lettered": dead,
        "retries_logged": retries,
        "first_delivery_after_recovery_s": round(first_after - recovered, 1) if first_after else None,
        "drain_after_recovery_s": round(drained - recovered, 1),
        "peak_queue_depth": int(peaks["depth"]), "peak_oldest_age_s": round(peaks["oldest_s"], 1),
        "load_avg": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(result, indent=1))
    ok = got == list(range(posted)) and dead == 0
    if not ok:
        print("FAILED: expected every alert exactly once, in order, none dead-lettered", file=sys.stderr)
        print("\n".join(log_tail), file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
