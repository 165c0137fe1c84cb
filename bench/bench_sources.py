"""Sources -> plugin socket throughput, against moto serving the objects (server mode, over HTTP).

Three measurements in one run, each reported with a same-run baseline:
  baseline: plain gunzip + record split of the same bytes in memory (zlib + split on the record
            boundary, and zlib + orjson.loads(file)["Records"]), no AWS, no delivery;
  s3:       `ctbridge run --config` with an S3 source over an organization-trail bucket (gzip'd
            files from bench/gen_records.py --org) -> unix socket -> libctbridge.so, whose
            plugin_next_batch is looped on a thread of this process as Falco would; enrichment
            off (s3_enrich_default: the same with the default enrich stage on);
  sqs:      the same through an SQS queue of S3 notifications for 100-record files.
records/s is counted at the plugin (first to last record Falco took); records_per_cpu_s divides
them by the bridge process's user + sys CPU seconds (/proc/PID/stat, start-up included), which is
"per core" whatever else runs on the machine; the baseline's per-CPU-second rate is its
process_time. records_per_cpu_s_steady divides by the CPU seconds between the first and the
last record at the plugin (start-up excluded: interpreter, imports of boto3 and the intake, client
creation and the first listing cost about 0.5 CPU-s whatever the input, which is a quarter of the
S3 run's CPU at the default 200,000 records and half the SQS run's). Peak RSS is the bridge
process's VmHWM. Prints one JSON object (with the load).

    .venv/bin/python bench/bench_sources.py [--records 200000] [--per-file 2000] [--sqs-files 200]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import boto3
import orjson
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "sources")]

from aws import FAKE_CREDENTIALS, MotoServer  # noqa: E402
from ct import PluginFalco, free_port  # noqa: E402

SEP = re.compile(rb'\}\s*,\s*\{"eventVersion"')


def gen(out: Path, count: int, per_file: int, big_mb: int = 0) -> list[Path]:
    subprocess.run([sys.executable, str(REPO / "bench" / "gen_records.py"), "--org", "--count", str(count),
                    "--per-file", str(per_file), "--out", str(out), "--big-mb", str(big_mb)], check=True,
                   stdout=subprocess.DEVNULL)
    return sorted(p for p in out.rglob("*.json.gz"))


def baseline(blobs: list[bytes]) -> dict[str, float]:
    """Single-threaded in this process, so its CPU time (process_time) is its time on one core."""
    t, c = time.perf_counter(), time.process_time()
    n = 0
    for b in blobs:
        n += len(SEP.split(zlib.decompress(b, 47)))
    split_rate = n / (time.perf_counter() - t)
    split_cpu_rate = n / (time.process_time() - c)
    t = time.perf_counter()
    m = 0
    for b in blobs:
        m += len(orjson.loads(zlib.decompress(b, 47))["Records"])
    parse_rate = m / (time.perf_counter() - t)
    assert n == m, (n, m)
    return {"records": n, "gunzip_split_per_s": split_rate, "gunzip_split_per_cpu_s": split_cpu_rate,
            "gunzip_orjson_per_s": parse_rate}


def run_bridge(config: dict[str, Any], falco: PluginFalco, total: int, tmp: Path, env: dict[str, str],
               endless: bool, moto_pid: int) -> dict[str, float]:
    conf = tmp / f"c{time.monotonic_ns()}.yaml"
    conf.write_text(yaml.safe_dump(config))
    before = len(falco.payloads)
    stamps: list[float] = []
    cpu_at: list[float] = []  # the bridge's CPU seconds at the first and at the last record
    pid: list[int] = []

    def watch() -> None:
        while len(falco.payloads) - before < total:
            if len(falco.payloads) > before and not stamps:
                stamps.append(time.perf_counter())
                cpu_at.append(_cpu_s(pid[0]))
            time.sleep(0.01)
        stamps.append(time.perf_counter())
        cpu_at.append(_cpu_s(pid[0]))

    w = threading.Thread(target=watch, daemon=True)
    moto_cpu = _cpu_s(moto_pid)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--log-level", "warning", "run", "--config", str(conf)],
                            cwd=REPO, env=env)
    pid.append(proc.pid)
    w.start()
    peak = 0
    cpu = 0.0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak = max(peak, int(re.search(r"VmHWM:\s+(\d+)", status).group(1)))  # type: ignore[union-attr]
            cpu = _cpu_s(proc.pid)  # the last reading before exit: start-up and shutdown included
        except (OSError, AttributeError, ValueError):
            pass
        if endless and not w.is_alive():
            proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    w.join(60)
    got = len(falco.payloads) - before
    span = stamps[-1] - stamps[0] if len(stamps) == 2 else float("nan")
    steady = cpu_at[-1] - cpu_at[0] if len(cpu_at) == 2 else float("nan")
    return {"records": got, "records_per_s": got / span, "wall_s": wall, "peak_rss_mb": peak / 1024,
            "bridge_cpu_s": cpu, "records_per_cpu_s": got / cpu if cpu else float("nan"),
            "bridge_cpu_s_steady": steady, "records_per_cpu_s_steady": got / steady if steady else float("nan"),
            "moto_cpu_s": _cpu_s(moto_pid) - moto_cpu}  # the server shares the 2 cores


def _cpu_s(pid: int) -> float:
    """user + sys of a process so far (all its threads), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--per-file", type=int, default=2_000)
    ap.add_argument("--sqs-files", type=int, default=200)
    ap.add_argument("--readers", type=int, default=2, help="the daemon's readers (Works read in parallel)")
    ap.add_argument("--big-mb", type=int, default=0,
                    help="add one log file of about this many MB compressed (memory stays bounded)")
    args = ap.parse_args()
    os.environ.update(FAKE_CREDENTIALS)
    moto = MotoServer()
    out: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="ctb-bench-") as d:
            tmp = Path(d)
            files = gen(tmp / "org", args.records, args.per_file, args.big_mb)
            blobs = [p.read_bytes() for p in files]
            out["input"] = {"largest_file_gzip_mb": max(map(len, blobs)) / 1e6}
            s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
            s3.create_bucket(Bucket="trail")
            for p, b in zip(files, blobs, strict=True):
                key = str(p.relative_to(tmp / "org"))
                if key.startswith("big/"):  # gen_records puts the big file aside; give it its trail place
                    key = f"AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/us-east-1/2024/05/02/{p.name}"
                s3.put_object(Bucket="trail", Key=key, Body=b)
            out["input"].update({"files": len(files), "gzip_mb": sum(map(len, blobs)) / 1e6})
            out["baseline"] = baseline(blobs)
            falco = PluginFalco(tmp / "ingest.sock")
            falco.start()
            env = {**os.environ, **FAKE_CREDENTIALS}
            # The source path alone: enrichment (on by default, a per-record stage) is measured apart.
            base = {"falco": {"socket": str(falco.sock), "listen": f"127.0.0.1:{free_port()}", "quiet": 0},
                    "exit_when_idle": True, "enrich": {"enabled": False}}
            s3_source = {"type": "s3", "bucket": "trail", "endpoint_url": moto.url, "since": "2024-05-01T00:00:00Z",
                         "until": "2024-05-10T00:00:00Z", "once": True}
            out["s3"] = run_bridge({**base, "state": {"path": str(tmp / "s3.db")}, "sources": [s3_source],
                                    "readers": args.readers}, falco, out["baseline"]["records"], tmp, env, False, moto._proc.pid)
            out["s3_enrich_default"] = run_bridge(
                {**base, "enrich": {"enabled": True, "state": str(tmp / "enrich.db")},
                 "state": {"path": str(tmp / "s3e.db")}, "sources": [s3_source], "readers": args.readers},
                falco, out["baseline"]["records"], tmp, env, False, moto._proc.pid)
            out["s3"]["ratio_to_gunzip_split"] = out["s3"]["records_per_s"] / out["baseline"]["gunzip_split_per_s"]
            out["s3"]["ratio_to_gunzip_orjson"] = out["s3"]["records_per_s"] / out["baseline"]["gunzip_orjson_per_s"]
            out["s3"]["cpu_ratio_to_gunzip_split"] = (out["s3"]["records_per_cpu_s"]
                                                      / out["baseline"]["gunzip_split_per_cpu_s"])
            out["s3"]["cpu_ratio_to_gunzip_split_steady"] = (out["s3"]["records_per_cpu_s_steady"]
                                                             / out["baseline"]["gunzip_split_per_cpu_s"])
            out["load_avg"] = os.getloadavg()

            # SQS: 100-record files behind S3 event notifications.
            small = gen(tmp / "small", args.sqs_files * 100, 100)
            sqs = boto3.client("sqs", endpoint_url=moto.url, region_name="us-east-1")
            url = sqs.create_queue(QueueName="ct")["QueueUrl"]
            s3.create_bucket(Bucket="small")
            for i, p in enumerate(small):
                key = str(p.relative_to(tmp / "small"))
                s3.put_object(Bucket="small", Key=key, Body=p.read_bytes())
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Records": [
                    {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                     "s3": {"bucket": {"name": "small"}, "object": {"key": key}}}]}))
            out["sqs"] = run_bridge({**base, "exit_when_idle": False, "state": {"path": str(tmp / "sqs.db")},
                                     "sources": [{"type": "sqs", "queue_url": url, "endpoint_url": moto.url,
                                                  "wait_time": 1, "receivers": 4}], "readers": 8},
                                    falco, len(small) * 100, tmp, env, True, moto._proc.pid)
            falco.close()
    finally:
        moto.close()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
