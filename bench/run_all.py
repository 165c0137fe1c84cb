"""`make bench`: every benchmark, each beside a baseline measured in the same run on the same bytes.

    .venv/bin/python bench/run_all.py [--count 200000] [--big-mb 50] [--sizes 10000,50000,200000]
                                      [--only corpus,baselines,falco,plugin,rules,sizes,workers,big,forward]

Writes bench/out/results.json (and each step's own JSON), then docs/benchmarks.md and
docs/benchmarks.png through bench/report.py. Steps that need Falco are skipped without one
($FALCO_BINARY or `falco` on PATH); the official rule set needs $OFFICIAL_RULES (default
/opt/bench-inputs/aws_cloudtrail_rules.yaml), which is read by path and never copied here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "bench" / "out"
WORK = REPO / "build" / "bench"
PY = sys.executable
STEPS = ["corpus", "baselines", "falco", "plugin", "rules", "sizes", "workers", "big", "sources", "forward"]


def load() -> float:
    return round(os.getloadavg()[0], 2)


def machine(falco: str | None) -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // 1024
    version = ""
    if falco:
        version = subprocess.run([falco, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_mib": mem, "kernel": platform.release(),
            "python": platform.python_version(), "falco": version,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def corpus(count: int, per_file: int = 100) -> Path:
    """The seeded organization-trail corpus (cached under build/bench/)."""
    target = WORK / f"org-{count}"
    if not target.is_dir():
        tmp = WORK / f"org-{count}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([PY, str(REPO / "bench" / "gen_records.py"), "--org", "--count", str(count),
                        "--per-file", str(per_file), "--out", str(tmp)], check=True, stdout=subprocess.DEVNULL)
        tmp.rename(target)
    return target


def files_of(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*.json.gz") if p.is_file())


def baselines(d: Path) -> dict[str, Any]:
    """One process, one core: read + gunzip alone; read + gunzip + the bridge's record split."""
    from bridge.deliver.packed import pack_file

    files = files_of(d)
    t0 = time.process_time()
    out_bytes = 0
    for f in files:
        out_bytes += len(zlib.decompress(f.read_bytes(), 16 + zlib.MAX_WBITS))
    gunzip = time.process_time() - t0
    t0 = time.process_time()
    records = 0
    for f in files:
        records += len(pack_file(str(f), 4 << 20).ends)
    split = time.process_time() - t0
    gz = sum(f.stat().st_size for f in files)
    return {"load_avg": load(), "records": records, "files": len(files), "gzip_mib": round(gz / 2**20, 1),
            "json_mib": round(out_bytes / 2**20, 1),
            "gunzip_records_per_s": round(records / gunzip), "gunzip_mib_per_s": round(out_bytes / 2**20 / gunzip),
            "gunzip_split_records_per_s": round(records / split)}


def bench_falco(args: argparse.Namespace, data: Path, count: int, name: str, extra: list[str]) -> list[dict[str, Any]]:
    argv = [PY, str(REPO / "bench" / "bench_falco.py"), "--falco", args.falco, "--data", str(data),
            "--count", str(count), "--json", name, *extra]
    if args.official_rules:
        argv += ["--official-rules", args.official_rules]
    print("  $", " ".join(argv[1:]), flush=True)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return list(json.loads((OUT / name).read_text())["results"])


def plugin(count: int) -> dict[str, Any]:
    """bench/plugin_driver.c through the C ABI: the bundled 10 fields, then every field of rules/."""
    fields = subprocess.run([PY, str(REPO / "bench" / "rule_fields.py"), *map(str, sorted((REPO / "rules").glob("*.yaml")))],
                            check=True, capture_output=True, text=True).stdout.strip()
    out: dict[str, Any] = {"load_avg": load(), "runs": []}
    for label, env in (("10 fields", {}), (f"{fields.count(',') + 1} fields of rules/", {"CTB_FIELDS": fields}),
                       (f"{fields.count(',') + 1} fields of rules/, one per call",
                        {"CTB_FIELDS": fields, "CTB_PER_CALL": "1"})):
        text = subprocess.run([str(REPO / "bench" / "run_plugin_bench.sh")], check=True, capture_output=True, text=True,
                              env={**os.environ, "N": str(count), "REPEAT": "3", **env}).stdout
        rows = {}
        for line in text.splitlines():
            m = re.match(r"(plain|gzip)\s+(.+?)\s{2,}(\d+) (events/s|records/s)\s+\[\s*(\d+)\]", line)
            if m:
                rows[f"{m.group(1)} {m.group(2)}"] = int(m.group(3))
        out["runs"].append({"fields": label, "rates": rows})
    return out


def synthetic_rules(n: int) -> Path:
    """n rules shaped like the official ones (source, then event name, then error), none firing."""
    srcs = ["s3.amazonaws.com", "iam.amazonaws.com", "ec2.amazonaws.com", "kms.amazonaws.com", "sts.amazonaws.com"]
    items: list[dict[str, Any]] = [{"required_plugin_versions": [{"name": "ctbridge", "version": "0.1.0"}]}]
    for i in range(n):
        items.append({"rule": f"Synthetic {i}", "desc": "never fires", "source": "aws_cloudtrail", "priority": "NOTICE",
                      "condition": f'ct.src = "{srcs[i % len(srcs)]}" and ct.name = "NoSuchCall{i}" and not ct.error exists',
                      "output": "synthetic %ct.name by %ct.user"})
    import yaml

    path = WORK / f"synthetic-{n}.yaml"
    path.write_text(yaml.safe_dump(items, sort_keys=False))
    return path


def forward() -> dict[str, Any]:
    script = REPO / "bench" / "bench_forward.py"
    if not script.exists():
        return {"skipped": "bench/bench_forward.py not present"}
    t = subprocess.run([PY, str(script), "--alerts", "20000", "--seconds", "10"], capture_output=True, text=True,
                       timeout=900)
    return {"load_avg": load(), "rc": t.returncode, "output": t.stdout[-3000:], "stderr": t.stderr[-1000:]}


def sources() -> dict[str, Any]:
    """bench/bench_sources.py (the sources helper's): S3 and SQS served by moto into the plugin."""
    script = REPO / "bench" / "bench_sources.py"
    if not script.exists():
        return {"skipped": "bench/bench_sources.py not present"}
    t = subprocess.run([PY, str(script), "--records", "50000"], capture_output=True, text=True, timeout=1200)
    out: dict[str, Any] = {"load_avg": load(), "rc": t.returncode}
    try:
        out["result"] = json.loads(t.stdout[t.stdout.index("{"):])
    except (ValueError, IndexError):
        out["output"] = t.stdout[-3000:] + t.stderr[-1000:]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--sizes", default="10000,50000,200000", help="input sizes for the scaling curve (add 1000000, 5000000)")
    ap.add_argument("--rule-counts", default="10,30,100,300")
    ap.add_argument("--workers", default="1,2,3")
    ap.add_argument("--big-mb", type=int, default=50, help="the single big log file (0: skip)")
    ap.add_argument("--only", default=",".join(STEPS))
    ap.add_argument("--repeat", type=int, default=3, help="end-to-end runs per rule set and path (median kept)")
    ap.add_argument("--falco", default=os.environ.get("FALCO_BINARY") or shutil.which("falco"))
    ap.add_argument("--official-rules", default=os.environ.get("OFFICIAL_RULES", "/opt/bench-inputs/aws_cloudtrail_rules.yaml"))
    args = ap.parse_args()
    if args.official_rules and not Path(args.official_rules).is_file():
        print(f"no official rules file at {args.official_rules}: the official22 rule set is skipped")
        args.official_rules = None
    steps = args.only.split(",")
    OUT.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    results_path = OUT / "results.json"
    results: dict[str, Any] = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["machine"] = machine(args.falco)
    results["load_avg_start"] = load()
    started = time.monotonic()

    def save() -> None:
        results_path.write_text(json.dumps(results, indent=2))

    def step(name: str) -> bool:
        if name not in steps:
            return False
        if name not in ("corpus", "baselines", "plugin", "sources", "forward") and not args.falco:
            print(f"[{name}] skipped: no Falco (set FALCO_BINARY)")
            return False
        print(f"[{name}] load {load()}", flush=True)
        return True

    data = corpus(args.count)
    results["corpus"] = {"records": args.count, "dir": str(data.relative_to(REPO)), "files": len(files_of(data)),
                         "gzip_mib": round(sum(f.stat().st_size for f in files_of(data)) / 2**20, 1)}
    if step("baselines"):
        results["baselines"] = baselines(data)
        save()
    if step("falco"):
        rs = "seed,official22,full"
        results["falco"] = bench_falco(args, data, args.count, "falco.json", ["--paths", "file,bridge", "--rulesets", rs,
                                                                              "--repeat", str(args.repeat)])
        save()
    if step("plugin"):
        results["plugin"] = plugin(args.count)
        save()
    if step("rules"):
        small = 50_000
        extra = ["--paths", "file", "--rulesets", "none"]
        for n in map(int, args.rule_counts.split(",")):
            extra += ["--ruleset", f"synthetic{n}={synthetic_rules(n)}"]
        results["rules"] = bench_falco(args, corpus(small), small, "falco_rules.json", extra)
        save()
    if step("sizes"):
        rows: list[dict[str, Any]] = []
        for n in map(int, args.sizes.split(",")):
            rows += bench_falco(args, corpus(n), n, f"falco_size_{n}.json",
                                ["--paths", "file,bridge", "--rulesets", "official22" if args.official_rules else "seed"])
        results["sizes"] = rows
        save()
    if step("workers"):
        rows = []
        for w in map(int, args.workers.split(",")):
            rows += bench_falco(args, data, args.count, f"falco_workers_{w}.json",
                                ["--paths", "bridge" if rows else "file,bridge", "--read-workers", str(w),
                                 "--rulesets", "official22" if args.official_rules else "seed"])
        results["workers"] = rows
        save()
    if step("big") and args.big_mb:
        big_dir = WORK / f"big-{args.big_mb}mb"
        if not big_dir.is_dir():
            text = subprocess.run([PY, str(REPO / "bench" / "gen_records.py"), "--count", "0", "--big-mb",
                                   str(args.big_mb), "--out", str(big_dir) + ".tmp"], check=True,
                                  capture_output=True, text=True).stdout
            Path(str(big_dir) + ".tmp").rename(big_dir)
            (big_dir / "count").write_text(re.search(r"(\d+) records\)", text).group(1))  # type: ignore[union-attr]
        n = int((big_dir / "count").read_text())
        results["big"] = bench_falco(args, big_dir / "big", n, "falco_big.json",
                                     ["--paths", "file,bridge", "--rulesets", "official22" if args.official_rules else "seed"])
        save()
    if step("sources"):
        results["sources"] = sources()
        save()
    if step("forward"):
        results["forward"] = forward()
        save()
    results["load_avg_end"] = load()
    results["minutes"] = round((time.monotonic() - started) / 60, 1)
    save()
    subprocess.run([PY, str(REPO / "bench" / "report.py")], check=True)


if __name__ == "__main__":
    main()
