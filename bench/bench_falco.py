"""End to end through a real Falco: records/s and Falco's peak RSS, per rule set and per path.

    FALCO_BINARY=/usr/local/bin/falco .venv/bin/python bench/bench_falco.py \\
        [--official-rules aws_cloudtrail_rules.yaml] [--cloudtrail-plugin libcloudtrail.so --json-plugin libjson.so]

Paths, on the same generated .json.gz files (organization-trail-like mix, bench/gen_records.py):
  file      Falco reads the files itself through the plugin's file:// source (the ceiling)
  bridge    `ctbridge replay --falco-socket` feeds the plugin's unix:// source in the same Falco
  official  the official cloudtrail + json plugins read the same files (only with their .so files)
Rule sets: seed (rules/seed_scenario.yaml), official22 (the official rules file, with its plugin
requirement and json.value[] fields moved to ctbridge's), full (every file in rules/).
Falco's start-up, measured on a one-record input with the same rules, is subtracted; events/s is
records / (wall time - start-up). Results go to stdout as a Markdown table and to
bench/out/bench_falco.json.
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
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bridge.falco.runner import build_config, load_template  # noqa: E402

FALCO_ARGS = ["-o", "engine.kind=nodriver", "--disable-source", "syscall"]


def adapt_official(text: str) -> list[Any]:
    """The official rules for ctbridge alone: our plugin's name, ctb.value[] for json.value[]."""
    items = yaml.safe_load(re.sub(r"\bjson\.value\[", "ctb.value[", text))
    for item in items:
        if "required_plugin_versions" in item:
            item["required_plugin_versions"] = [{"name": "ctbridge", "version": "0.1.0"}]
    return list(items)


def official_for_cloudtrail(text: str) -> list[Any]:
    return list(yaml.safe_load(text))


def falco_cfg(plugin_name: str, plugin: str, open_params: str, out: Path, json_plugin: str | None) -> dict[str, Any]:
    cfg = build_config(load_template(False), plugin_path=plugin, open_params=open_params, rules=[], http_url=None)
    if plugin_name != "ctbridge":
        # useAsync off: with it on (the SDK's default on >1 CPU) Falco's thread spins on a Go worker
        # that sleeps 10 ms when idle; measured 26.5 s against 0.71 s for 10k records here.
        entry = {"name": plugin_name, "library_path": plugin, "init_config": {"useAsync": False},
                 "open_params": open_params}
        cfg["plugins"] = [entry]
        cfg["load_plugins"] = [plugin_name]
    if json_plugin:
        cfg["plugins"].append({"name": "json", "library_path": json_plugin, "init_config": ""})
        cfg["load_plugins"].append("json")
    cfg["file_output"] = {"enabled": True, "keep_alive": True, "filename": str(out)}
    cfg["output_timeout"] = 120000
    return cfg


def peak_rss_mib(ru: Any) -> float:
    return float(ru.ru_maxrss) / 1024.0  # Linux: KiB; a child's own peak (and its reaped children's)


class HighWater:
    """Falco's VmHWM sampled from /proc while it runs (wait4's figure would include the bridge's
    when both are children of this process and the kernel folds reaped grandchildren in)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.kib, self._stop = pid, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self._tree():
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.kib = max(self.kib, int(line.split()[1]))
                except (OSError, ValueError):
                    pass
            self._stop.wait(0.02)

    def _tree(self) -> list[int]:
        """The process and its descendants (the bridge's read workers): the largest one counts."""
        pids, i = [self.pid], 0
        while i < len(pids):
            try:
                for task in Path(f"/proc/{pids[i]}/task").iterdir():
                    pids += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError):
                pass
            i += 1
        return pids

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        return self.kib / 1024.0


def enrich_args(ruleset: str) -> list[str]:
    """The official rules read no ctb.* enrichment (and Falco's file:// path has none): the bridge
    runs without it there, like for like. The seed and full rule sets use it."""
    return [] if ruleset in ("seed", "full") else ["--enrich", "off"]


def run_once(falco: str, cfg: dict[str, Any], rules: list[Path], work: Path, tag: str,
             feed: list[str] | None = None, sock: Path | None = None) -> dict[str, Any]:
    cfg_path = work / f"{tag}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = Path(cfg["file_output"]["filename"])
    out.unlink(missing_ok=True)
    argv = [falco, "-c", str(cfg_path), *FALCO_ARGS]
    for r in rules:
        argv += ["-r", str(r)]
    log = open(work / f"{tag}.log", "wb")  # noqa: SIM115
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    hwm = HighWater(proc.pid)
    bridge_rss = None
    bridge_cpu = None
    if feed is not None:
        assert sock is not None
        deadline = time.monotonic() + 60
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{tag}: Falco did not open {sock}; see {work / (tag + '.log')}")
            time.sleep(0.01)
        bridge = subprocess.Popen(feed, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # VmHWM sampled from /proc: wait4's ru_maxrss would include this script's own RSS at the
        # fork (Linux carries the high-water mark across exec).
        bridge_hwm = HighWater(bridge.pid)
        _, status, ru = os.wait4(bridge.pid, 0)
        bridge.returncode = os.waitstatus_to_exitcode(status)
        if bridge.returncode != 0:
            sys.exit(f"{tag}: bridge exited {bridge.returncode}: {bridge.stderr.read().decode()[-2000:] if bridge.stderr else ''}")
        bridge_rss = bridge_hwm.stop()
        bridge_cpu = ru.ru_utime + ru.ru_stime  # the bridge and its reaped read workers
    while True:  # sample until it exits
        pid, status, fru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    falco_cpu = fru.ru_utime + fru.ru_stime
    falco_hwm = hwm.stop()
    log.close()
    rc = proc.returncode
    if rc != 0:
        sys.exit(f"{tag}: Falco exited {rc}; see {work / (tag + '.log')}")
    alerts = 0
    if out.exists():
        with out.open("rb") as f:
            alerts = sum(1 for line in f if line.startswith(b"{"))
    return {"seconds": elapsed, "falco_rss_mib": falco_hwm, "bridge_rss_mib": bridge_rss, "alerts": alerts,
            "falco_cpu_s": falco_cpu, "bridge_cpu_s": bridge_cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--falco", default=os.environ.get("FALCO_BINARY") or shutil.which("falco") or "falco")
    ap.add_argument("--plugin", default=str(REPO / "build" / "plugin" / "libctbridge.so"))
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--per-file", type=int, default=100)
    ap.add_argument("--official-rules", type=Path, help="the official aws_cloudtrail_rules.yaml")
    ap.add_argument("--cloudtrail-plugin", help="official libcloudtrail.so (for the 'official' path)")
    ap.add_argument("--json-plugin", help="official libjson.so (needed by the official rules)")
    ap.add_argument("--paths", default="file,bridge,official")
    ap.add_argument("--rulesets", default="seed,official22,full")
    ap.add_argument("--data", type=Path, help="use these log files (e.g. from gen_records.py --org) instead of "
                    "generating --count records; --count must then say how many records they hold")
    ap.add_argument("--read-workers", type=int, default=2, help="the bridge's --read-workers")
    ap.add_argument("--ruleset", action="append", default=[], metavar="NAME=FILE[,FILE]",
                    help="an extra rule set (repeatable), e.g. synthetic rules for the rule-count curve")
    ap.add_argument("--json", default="bench_falco.json", help="file name under bench/out/")
    ap.add_argument("--repeat", type=int, default=1, help="runs per rule set and path, taken in turn; the median is kept")
    args = ap.parse_args()
    if shutil.which(args.falco) is None:
        sys.exit(f"no Falco at {args.falco!r}: set FALCO_BINARY or put falco on PATH")
    version = subprocess.run([args.falco, "--version"], capture_output=True, text=True).stdout.splitlines()[0]

    with tempfile.TemporaryDirectory(prefix="ctb-bench-falco-") as tmp:
        work = Path(tmp)
        data, one = work / "records", work / "one"
        for target, count in ((data, args.count), (one, 1)):
            if target is data and args.data is not None:
                data = args.data
                continue
            subprocess.run([sys.executable, str(REPO / "bench" / "gen_records.py"), "--count", str(count),
                            "--per-file", str(args.per_file), "--out", str(target)], check=True,
                           stdout=subprocess.DEVNULL)
        files = sum(1 for f in data.rglob("*.json*") if f.is_file())
        rulesets: dict[str, tuple[list[Path], list[Path] | None]] = {}
        wanted = args.rulesets.split(",")
        if "seed" in wanted:
            rulesets["seed"] = ([REPO / "rules" / "seed_scenario.yaml"], None)
        if "official22" in wanted and args.official_rules:
            text = args.official_rules.read_text()
            ours, theirs = work / "official22-ctbridge.yaml", work / "official22-cloudtrail.yaml"
            ours.write_text(yaml.safe_dump(adapt_official(text), sort_keys=False))
            theirs.write_text(text)
            rulesets["official22"] = ([ours], [theirs])
        if "full" in wanted:
            rulesets["full"] = (sorted((REPO / "rules").glob("*.yaml")), None)
        for spec in args.ruleset:
            name, _, files_ = spec.partition("=")
            rulesets[name] = ([Path(f) for f in files_.split(",")], None)

        results: list[dict[str, Any]] = []
        # Repeats go round every rule set and path in turn, so that a burst of load from other work
        # hits file:// and the bridge alike; each row is the run with the median wall time.
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        startups: dict[tuple[str, str], float] = {}
        rules_of: dict[tuple[str, str], list[Path]] = {}
        for rep in range(args.repeat):
            for rs_name, (our_rules, their_rules) in rulesets.items():
                for path in args.paths.split(","):
                    tag = f"{rs_name}-{path}"
                    out = work / f"{tag}.jsonl"
                    if path == "file":
                        mk = lambda d: (falco_cfg("ctbridge", args.plugin, f"file://{d}", out, None), None, None)  # noqa: E731
                        rules = our_rules
                    elif path == "bridge":
                        sock = work / "ingest.sock"

                        def mk(d: Path) -> tuple[dict[str, Any], list[str] | None, Path | None]:
                            feed = [sys.executable, "-m", "bridge", "replay", str(d), "--plugin", args.plugin,
                                    "--falco-socket", str(sock), "--end-stream", "--quiet", "0",
                                    "--listen", "127.0.0.1:0", "--out", os.devnull, *enrich_args(rs_name),
                                    "--read-workers", str(args.read_workers)]
                            return falco_cfg("ctbridge", args.plugin, f"unix://{sock}", out, None), feed, sock
                        rules = our_rules
                    elif path == "official":
                        if not (args.cloudtrail_plugin and args.json_plugin and their_rules):
                            continue
                        mk = lambda d: (falco_cfg("cloudtrail", args.cloudtrail_plugin, str(d), out,  # noqa: E731
                                                  args.json_plugin), None, None)
                        rules = their_rules
                    else:
                        sys.exit(f"unknown path {path!r}")
                    key = (rs_name, path)
                    rules_of[key] = rules
                    if key not in startups:
                        cfg, feed, sock = mk(one)
                        startups[key] = run_once(args.falco, cfg, rules, work, tag + "-startup", feed, sock)["seconds"]
                    cfg, feed, sock = mk(data)
                    r = run_once(args.falco, cfg, rules, work, tag, feed, sock)
                    r["load_avg"] = os.getloadavg()[0]
                    runs.setdefault(key, []).append(r)
        for (rs_name, path), rs in runs.items():
            r = sorted(rs, key=lambda x: x["seconds"])[len(rs) // 2]
            startup = startups[(rs_name, path)]
            net = r["seconds"] - startup
            # Start-up measured on a one-record run varies by a second on a loaded machine: when it
            # is most of the wall time, the rate falls back to records / wall time (start-up included).
            rough = net < 0.3 * r["seconds"]
            if rough:
                net = r["seconds"]
            row = {"load_avg": r["load_avg"], "read_workers": args.read_workers if path == "bridge" else None,
                   "ruleset": rs_name, "rules": sum(_count_rules(p) for p in rules_of[(rs_name, path)]), "path": path,
                   "records": args.count, "files": files, "wall_s": round(r["seconds"], 3),
                   "startup_s": round(startup, 3), "events_per_s": round(args.count / net),
                   "rate_includes_startup": rough, "repeats": len(rs),
                   "walls_s": [round(x["seconds"], 3) for x in rs],
                   "falco_peak_rss_mib": round(r["falco_rss_mib"], 1),
                   "bridge_peak_rss_mib": None if r["bridge_rss_mib"] is None else round(max(
                       x["bridge_rss_mib"] for x in rs), 1),
                   "alerts": r["alerts"],
                   # CPU seconds (user + sys) per 1,000 records, start-up included: steadier than rates
                   # when other work loads the machine.
                   "falco_cpu_ms_per_1k": round(1000 * 1000 * r["falco_cpu_s"] / args.count, 2),
                   "bridge_cpu_ms_per_1k": None if r["bridge_cpu_s"] is None else
                   round(1000 * 1000 * r["bridge_cpu_s"] / args.count, 2)}
            results.append(row)
            print(json.dumps(row), flush=True)

    print(f"\n{version}; {platform.machine()}, {os.cpu_count()} cores; {args.count} records in {files} files\n")
    print("| rules | path | records/s | wall s (start-up) | Falco peak RSS MiB | bridge peak RSS MiB | alerts |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['ruleset']} ({r['rules']}) | {r['path']} | {r['events_per_s']:,} | {r['wall_s']} ({r['startup_s']}) "
              f"| {r['falco_peak_rss_mib']} | {r['bridge_peak_rss_mib'] or '-'} | {r['alerts']} |")
    out_dir = REPO / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / args.json).write_text(json.dumps({"falco": version, "results": results}, indent=2))


def _count_rules(path: Path) -> int:
    items = yaml.safe_load(path.read_text()) or []
    return sum(1 for i in items if isinstance(i, dict) and "rule" in i and i.get("enabled", True) is not False)


if __name__ == "__main__":
    main()
