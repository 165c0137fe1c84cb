"""Bridge -> plugin socket throughput, from local .json.gz CloudTrail files to Falco's next_batch.

For two input sizes, each in a fresh process so peak RSS is that run's own:
  baseline: read + gunzip + parse the files into Records (the normalize stage), no delivery;
  deliver:  the same, plus PluginClient -> unix socket -> libctbridge.so, whose plugin_next_batch
            is called in a loop on another thread as Falco would.
Prints events/s, the ratio deliver/baseline, and peak RSS (it must not grow with input size).

    .venv/bin/python bench/bench_deliver.py [--sizes 50000,200000] [--plugin build/plugin/libctbridge.so]
"""

from __future__ import annotations

import argparse
import ctypes
import gzip
import importlib.util
import json
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bridge.deliver.socket_client import PluginClient  # noqa: E402
from bridge.model import BadItem, Blob, Record  # noqa: E402

RECORDS_PER_FILE = 5000
TARGET = 50_000
WORKERS = 2  # bridge.app's default read workers

_EVENTS: list[tuple[str, str, dict[str, Any]]] = [
    ("s3.amazonaws.com", "GetObject", {"bucketName": "logs-{n}", "key": "year=2025/part-{n}.parquet"}),
    ("ec2.amazonaws.com", "RunInstances", {"instanceType": "m5.large", "imageId": "ami-{n:08x}", "minCount": 1}),
    ("iam.amazonaws.com", "CreateUser", {"userName": "svc-{n}"}),
    ("sts.amazonaws.com", "AssumeRole", {"roleArn": "arn:aws:iam::123456789012:role/r{n}", "roleSessionName": "s{n}"}),
    ("kms.amazonaws.com", "Decrypt", {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
]


def make_record(rng: random.Random, n: int) -> dict[str, Any]:
    source, name, params = _EVENTS[n % len(_EVENTS)]
    sec = n % 86400
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": f"AROA{rng.getrandbits(64):016X}:session-{n}",
            "arn": f"arn:aws:sts::123456789012:assumed-role/Role{n % 17}/session-{n}",
            "accountId": "123456789012",
            "accessKeyId": f"ASIA{rng.getrandbits(64):016X}",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLEID",
                    "arn": f"arn:aws:iam::123456789012:role/Role{n % 17}",
                    "accountId": "123456789012",
                    "userName": f"Role{n % 17}",
                },
                "attributes": {"creationDate": "2025-11-20T09:00:00Z", "mfaAuthenticated": "false"},
            },
        },
        "eventTime": f"2025-11-20T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": rng.choice(["us-east-1", "eu-west-1", "ap-south-1"]),
        "sourceIPAddress": f"198.51.100.{n % 250}",
        "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/x",
        "requestParameters": {k: v.format(n=n) if isinstance(v, str) else v for k, v in params.items()},
        "responseElements": None,
        "additionalEventData": {"bytesTransferredIn": rng.randint(0, 10**6), "pad": "x" * rng.randint(0, 700)},
        "requestID": f"{rng.getrandbits(64):016X}",
        "eventID": f"{rng.getrandbits(128):032x}",
        "readOnly": name.startswith("Get"),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": f"{source}"},
    }


def write_files(directory: Path, total: int) -> list[Path]:
    rng = random.Random(7)
    paths: list[Path] = []
    for start in range(0, total, RECORDS_PER_FILE):
        records = [make_record(rng, n) for n in range(start, min(total, start + RECORDS_PER_FILE))]
        path = directory / f"123456789012_CloudTrail_us-east-1_{start:09d}.json.gz"
        path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), compresslevel=6))
        paths.append(path)
    return paths


def _reader() -> Any:
    """The normalize stage's reader if present, else a direct orjson one."""
    try:
        from bridge.normalize.logfile import records_from_blob

        return records_from_blob
    except ImportError:
        import orjson

        def fallback(blob: Blob) -> Iterator[Record | BadItem]:
            for i, doc in enumerate(orjson.loads(gzip.decompress(blob.data))["Records"]):
                yield Record(orjson.dumps(doc), 0, f"{blob.name}#{i}")

        return fallback


def read_records(paths: list[Path], workers: int = 1) -> Iterator[Record]:
    if workers > 1:
        from bridge.sources.local import iter_local_records

        for item in iter_local_records(paths, workers=workers):
            if isinstance(item, Record):
                yield item
        return
    read = _reader()
    for path in paths:
        for item in read(Blob(path.name, path.read_bytes())):
            if isinstance(item, Record):
                yield item


def load_abi() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plugin_abi", REPO / "tests" / "plugin_abi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["plugin_abi"] = module
    spec.loader.exec_module(module)
    return module


def run_baseline(paths: list[Path]) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = sum(1 for _ in read_records(paths))
    return n, time.perf_counter() - t0


def run_deliver(
    paths: list[Path], plugin: str, sock: str, replay: tuple[list[Record], int] | None = None, workers: int = 1
) -> tuple[int, float, int]:
    abi = load_abi()
    state = abi.PluginLib(plugin).init("{}")
    inst = state.open(f"unix://{sock}")
    dll, s, h = state.lib.dll, state.handle, inst.handle
    taken = [0]
    rcs: list[int] = []

    def falco() -> None:
        # Only counts events, as a fast Falco would; the ctypes call releases the GIL.
        nevts = ctypes.c_uint32(0)
        evts = ctypes.POINTER(ctypes.c_void_p)()
        while True:
            rc = dll.plugin_next_batch(s, h, ctypes.byref(nevts), ctypes.byref(evts))
            taken[0] += nevts.value
            if rc not in (abi.SS_PLUGIN_SUCCESS, abi.SS_PLUGIN_TIMEOUT):
                rcs.append(rc)
                return

    t = threading.Thread(target=falco, daemon=True)
    t.start()
    t0 = time.perf_counter()
    client = PluginClient(sock, connect_timeout=10)
    if replay is None:
        for record in read_records(paths, workers):
            client.send(record)
    else:
        # Sustained delivery alone: the same in-memory records over and over, no reading.
        for _ in range(replay[1]):
            for record in replay[0]:
                client.send(record)
    client.finish(timeout=120)
    t.join(60)
    elapsed = time.perf_counter() - t0
    inst.close()
    state.destroy()
    if rcs != [abi.SS_PLUGIN_EOF]:
        raise SystemExit(f"plugin loop ended with {rcs}, expected EOF")
    return taken[0], elapsed, client.stats.records_sent


def one(size: int, plugin: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ctb-bench-") as tmp:
        paths = write_files(Path(tmp), size)
        input_bytes = sum(p.stat().st_size for p in paths)
        base_n, base_s = run_baseline(paths)
        rss_after_baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        n, secs, sent = run_deliver(paths, plugin, str(Path(tmp) / "s.sock"))
        n2, secs2, sent2 = run_deliver(paths, plugin, str(Path(tmp) / "w.sock"), workers=WORKERS)
        first = list(read_records(paths[:1]))
        rn, rsecs, _ = run_deliver(paths, plugin, str(Path(tmp) / "r.sock"), (first, size // len(first)))
        if n != size or sent != size or base_n != size or n2 != size or sent2 != size:
            raise SystemExit(f"expected {size} events, baseline read {base_n}, sent {sent}, plugin gave {n}")
        return {
            "size": size,
            "gz_mb": input_bytes / 2**20,
            "baseline_eps": base_n / base_s,
            "deliver_eps": n / secs,
            "deliver_workers_eps": n2 / secs2,
            "send_only_eps": rn / rsecs,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "rss_baseline_mb": rss_after_baseline / 1024,
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="50000,200000")
    ap.add_argument("--plugin", default=str(REPO / "build" / "plugin" / "libctbridge.so"))
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not Path(args.plugin).exists():
        print(f"{args.plugin} is missing; run `make plugin`", file=sys.stderr)
        return 2
    if args.one:
        print(json.dumps(one(args.one, args.plugin)))
        return 0
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size), "--plugin", args.plugin],
            capture_output=True, text=True, check=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("baseline = read+gunzip+parse in one process, no delivery; end-to-end = read + delivery through")
    print(f"the socket into plugin_next_batch, reading in 1 process or in {WORKERS} worker processes;")
    print("delivery only = records already in memory (the deliver stage's ceiling). Ratios are to the baseline.")
    print(f"{'events':>8} {'gz MiB':>7} {'baseline ev/s':>14} {'e2e 1 proc':>11} {'ratio':>6}"
          f" {f'e2e {WORKERS} workers':>14} {'ratio':>6} {'delivery ev/s':>14} {'peak RSS MiB':>13}")
    for r in results:
        print(
            f"{r['size']:>8} {r['gz_mb']:>7.1f} {r['baseline_eps']:>14,.0f} {r['deliver_eps']:>11,.0f} "
            f"{r['deliver_eps'] / r['baseline_eps']:>6.2f} {r['deliver_workers_eps']:>14,.0f} "
            f"{r['deliver_workers_eps'] / r['baseline_eps']:>6.2f} {r['send_only_eps']:>14,.0f} {r['peak_rss_mb']:>13.1f}"
        )
    worst = min(r["deliver_workers_eps"] for r in results)
    growth = results[-1]["peak_rss_mb"] - results[0]["peak_rss_mb"]
    workers_rss = ", ".join(f"{r['worker_rss_mb']:.0f}" for r in results)
    print(f"target >= {TARGET:,} ev/s end to end from .json.gz: {'met' if worst >= TARGET else 'NOT met'} "
          f"(slowest {worst:,.0f}); peak RSS grew {growth:+.1f} MiB from {results[0]['size']} to "
          f"{results[-1]['size']} events (largest read worker: {workers_rss} MiB)")
    return 0 if worst >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
