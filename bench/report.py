"""Renders bench/out/results.json (bench/run_all.py) as docs/benchmarks.md and docs/benchmarks.png.

    .venv/bin/python bench/report.py
The chart needs matplotlib (`pip install -e '.[bench]'`); without it the page is written alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "out" / "results.json"
DOC = REPO / "docs" / "benchmarks.md"
PNG = REPO / "docs" / "benchmarks.png"
NOTES = REPO / "bench" / "notes.md"


def n(v: float | int | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def rate(rows: list[dict[str, Any]], ruleset: str, path: str) -> dict[str, Any] | None:
    for r in rows:
        if r["ruleset"] == ruleset and r["path"] == path:
            return r
    return None


def targets(res: dict[str, Any]) -> list[str]:
    out = ["| target | measured | same-run baseline | ratio | load avg | met |", "|---|---|---|---|---|---|"]
    falco = res.get("falco", [])
    f, b = rate(falco, "official22", "file"), rate(falco, "official22", "bridge")
    if f and b:
        ratio = b["events_per_s"] / f["events_per_s"]
        out.append(f"| bridge -> Falco, official 22 rules, >= 0.8x of Falco's own file:// | {n(b['events_per_s'])} rec/s "
                   f"| file:// {n(f['events_per_s'])} rec/s | {ratio:.2f}x | {b['load_avg']:.1f} | "
                   f"{'yes' if ratio >= 0.8 else 'no'} |")
        if f.get("falco_cpu_ms_per_1k") and b.get("bridge_cpu_ms_per_1k"):
            total = b["falco_cpu_ms_per_1k"] + b["bridge_cpu_ms_per_1k"]
            out.append(f"| the same in CPU: file:// Falco CPU / (Falco + bridge CPU on the bridge path) | "
                       f"{total:.1f} ms per 1k records | file:// {f['falco_cpu_ms_per_1k']:.1f} ms per 1k | "
                       f"{f['falco_cpu_ms_per_1k'] / total:.2f}x | {b['load_avg']:.1f} | "
                       "(the ratio a saturated machine tends to) |")
    for path in ("file", "bridge"):
        r = rate(falco, "full", path)
        if r:
            base = rate(falco, "seed", path)
            out.append(f"| full rule set ({r['rules']} rules) end to end >= 50,000 rec/s ({path}) | {n(r['events_per_s'])} rec/s "
                       f"| seed rule set {n(base['events_per_s']) if base else '-'} rec/s | "
                       f"{r['events_per_s'] / base['events_per_s']:.2f}x | {r['load_avg']:.1f} | "
                       f"{'yes' if r['events_per_s'] >= 50_000 else 'no'} |" if base else "")
    p = res.get("plugin")
    if p:
        for run in p["runs"]:
            rates = run["rates"]
            full = next((v for k, v in rates.items() if k.startswith("gzip plugin source +")), None)
            base = rates.get("gzip baseline rapidjson Parse")
            if full:
                out.append(f"| plugin next_batch + extraction ({run['fields']}) >= 300,000 ev/s, .json.gz | {n(full)} ev/s "
                           f"| rapidjson parse alone {n(base)} rec/s | {full / base:.2f}x | {p['load_avg']:.1f} | "
                           f"{'yes' if full >= 300_000 else 'no'} |")
    big = res.get("big", [])
    bb = rate(big, big[0]["ruleset"], "bridge") if big else None
    if bb:
        out.append(f"| bridge RSS < 250 MB with one {res['corpus'].get('big_mb', 50)} MB .json.gz file | "
                   f"{bb['bridge_peak_rss_mib']} MiB | Falco {bb['falco_peak_rss_mib']} MiB | - | {bb['load_avg']:.1f} | "
                   f"{'yes' if bb['bridge_peak_rss_mib'] < 250 else 'no'} |")
    sizes = res.get("sizes", [])
    rss = [r["bridge_peak_rss_mib"] for r in sizes if r["path"] == "bridge"]
    if rss:
        out.append(f"| bridge RSS under 250 MB at any input size | {max(rss)} MiB max over "
                   f"{', '.join(n(r['records']) for r in sizes if r['path'] == 'bridge')} records | - | - | - | "
                   f"{'yes' if max(rss) < 250 else 'no'} |")
    return [line for line in out if line]


def e2e(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| rule set | path | records/s | x file:// | wall s (start-up) | Falco CPU ms/1k rec | bridge CPU ms/1k rec "
           "| Falco peak RSS MiB | bridge peak RSS MiB | alerts | load |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f = next((x for x in rows if x["ruleset"] == r["ruleset"] and x["path"] == "file"
                  and x["records"] == r["records"]), None)
        ratio = f"{r['events_per_s'] / f['events_per_s']:.2f}" if f else "-"
        out.append(f"| {r['ruleset']} ({r['rules']}) | {r['path']}{' w=' + str(r['read_workers']) if r.get('read_workers') else ''} "
                   f"| {n(r['events_per_s'])}{'*' if r.get('rate_includes_startup') else ''} | {ratio} | {r['wall_s']} ({r['startup_s']}) "
                   f"| {r.get('falco_cpu_ms_per_1k', '-')} | {r.get('bridge_cpu_ms_per_1k') or '-'} | {r['falco_peak_rss_mib']} "
                   f"| {r['bridge_peak_rss_mib'] or '-'} | {n(r['alerts'])} | {r['load_avg']:.1f} |")
    if any(r.get("rate_includes_startup") for r in rows):
        out += ["", "\\* start-up was most of the wall time: records / wall time, start-up included."]
    return out


def chart(res: dict[str, Any]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(2, 2, figsize=(12, 8))
    falco = res.get("falco", [])
    if falco:
        sets = list(dict.fromkeys(r["ruleset"] for r in falco))
        for i, path in enumerate(("file", "bridge")):
            vals = [(rate(falco, s, path) or {}).get("events_per_s", 0) for s in sets]
            ax[0][0].bar([x + i * 0.4 for x in range(len(sets))], vals, 0.4, label=path)
        ax[0][0].set_xticks([x + 0.2 for x in range(len(sets))], sets)
        ax[0][0].set_title("end to end through Falco (records/s)")
        ax[0][0].legend()
    sizes = res.get("sizes", [])
    if sizes:
        for path in ("file", "bridge"):
            pts = [(r["records"], r["events_per_s"]) for r in sizes if r["path"] == path]
            ax[0][1].plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{path} records/s")
        rss = [(r["records"], r["bridge_peak_rss_mib"]) for r in sizes if r["path"] == "bridge"]
        twin = ax[0][1].twinx()
        twin.plot([p[0] for p in rss], [p[1] for p in rss], "s--", color="gray", label="bridge RSS MiB")
        twin.set_ylim(0, max(260, max(p[1] for p in rss) * 1.2))
        twin.set_ylabel("bridge peak RSS MiB")
        ax[0][1].set_xscale("log")
        ax[0][1].set_title("against input size (records)")
        ax[0][1].legend(loc="lower left")
    rules = res.get("rules", [])
    if rules:
        pts = sorted((r["rules"], r["events_per_s"]) for r in rules)
        ax[1][0].plot([p[0] for p in pts], [p[1] for p in pts], "o-")
        ax[1][0].set_title("Falco file:// against rule count (records/s)")
        ax[1][0].set_xlabel("rules")
    workers = [r for r in res.get("workers", []) if r["path"] == "bridge"]
    if workers:
        ax[1][1].bar([str(r["read_workers"]) for r in workers], [r["events_per_s"] for r in workers])
        f = next((r for r in res.get("workers", []) if r["path"] == "file"), None)
        if f:
            ax[1][1].axhline(f["events_per_s"], color="gray", linestyle="--", label="file:// (ceiling)")
            ax[1][1].legend()
        ax[1][1].set_title("bridge against --read-workers (records/s)")
    fig.tight_layout()
    fig.savefig(PNG, dpi=80)
    return True


def main() -> None:
    res = json.loads(RESULTS.read_text())
    m = res["machine"]
    lines = ["# Benchmarks", "",
             "Generated by `make bench` (bench/run_all.py, then bench/report.py) from bench/out/results.json. Every "
             "figure stands beside a baseline measured in the same run on the same bytes; the machine is shared, so "
             "each row gives the 1-minute load average when it was measured, and ratios are steadier than absolute rates.",
             "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_mib']:,} MiB, Linux {m['kernel']}, Python {m['python']}, "
             f"{m['falco'] or 'no Falco'}; {m['date']}. Load average {res.get('load_avg_start')} at the start, "
             f"{res.get('load_avg_end')} at the end; the run took {res.get('minutes')} minutes.", ""]
    c = res.get("corpus", {})
    lines += [f"Corpus: bench/gen_records.py --org (seed 7): {n(c.get('records'))} records in {c.get('files')} "
              f"organization-trail .json.gz files ({c.get('gzip_mib')} MiB), 4 accounts x 5 regions, S3 data events, "
              "EC2/IAM/KMS management calls, service events; records of ~0.5 KB to ~80 KB (3% large "
              "responseElements, 10% small service records).", ""]
    if chart(res):
        lines += ["![benchmarks](benchmarks.png)", ""]
    lines += ["## Targets", ""] + targets(res) + [""]
    b = res.get("baselines")
    if b:
        lines += ["## Baselines (one process, one core, same files)", "",
                  "| stage | records/s | |", "|---|---|---|",
                  f"| read + gunzip alone (zlib) | {n(b['gunzip_records_per_s'])} | {n(b['gunzip_mib_per_s'])} MiB/s of JSON |",
                  f"| read + gunzip + the bridge's record split (bridge/deliver/packed.py) | {n(b['gunzip_split_records_per_s'])} | "
                  f"{b['gunzip_split_records_per_s'] / b['gunzip_records_per_s']:.2f}x of gunzip alone |",
                  f"| load avg | {b['load_avg']} | |", ""]
    if res.get("falco"):
        lines += ["## End to end through a real Falco", "",
                  "`file` is Falco reading the files itself through the plugin's `file://` source: the ceiling for any "
                  "path through the bridge. `bridge` is `ctbridge replay --falco-socket --end-stream` into the plugin's "
                  "`unix://` source of the same Falco build and config. Falco's start-up (a one-record run) is subtracted. "
                  "official22 runs the bridge with `--enrich off` (Falco's file:// has no enrichment either); seed and "
                  "full run with the default enrichment, which their rules read.", ""] + e2e(res["falco"]) + [""]
    p = res.get("plugin")
    if p:
        lines += ["## Plugin through the C ABI (bench/plugin_driver.c)", "",
                  "next_batch from file:// plus plugin_extract_fields for every event, per CPU second on one pinned core, "
                  f"{n(c.get('records'))} records; load {p['load_avg']}.", "",
                  "| fields | stage | rate |", "|---|---|---|"]
        for run in p["runs"]:
            for k, v in run["rates"].items():
                lines.append(f"| {run['fields']} | {k} | {n(v)} |")
        lines.append("")
    for key, title in (("sizes", "Against input size"), ("rules", "Against the number of rules (Falco file://, synthetic "
                       "rules shaped like the official ones: source, event name, error; none fires)"),
                       ("workers", "Against the bridge's read workers"), ("big", "One big log file")):
        if res.get(key):
            lines += [f"## {title}", ""] + e2e(res[key]) + [""]
    src = res.get("sources")
    if src:
        lines += ["## Sources through moto (bench/bench_sources.py, 50,000 records)", "", "```json",
                  json.dumps(src.get("result", src), indent=1)[:4000], "```", ""]
    fw = res.get("forward")
    if fw:
        lines += ["## Forwarding (bench/bench_forward.py)", "", "```", (fw.get("output") or fw.get("skipped", "")).strip(),
                  "```", ""]
    if NOTES.exists():
        lines += [NOTES.read_text().strip(), ""]
    DOC.write_text("\n".join(lines))
    # bench/out/ is not committed; the page's figures are, beside it.
    (REPO / "docs" / "benchmarks.json").write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {DOC}" + (f" and {PNG}" if PNG.exists() else ""))


if __name__ == "__main__":
    main()
