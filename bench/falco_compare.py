"""ctbridge vs the official cloudtrail plugin, inside a real Falco, on the same records and rules.

Needs a Falco binary and the official plugins (libcloudtrail.so, libjson.so) with their rules file
(aws_cloudtrail_rules.yaml); none of them can be installed on the project's CI machine, so this is
run by hand where they exist:

    FALCO_BINARY=/usr/bin/falco python bench/falco_compare.py \\
        --cloudtrail-plugin /usr/share/falco/plugins/libcloudtrail.so \\
        --json-plugin /usr/share/falco/plugins/libjson.so \\
        --rules /etc/falco/aws_cloudtrail_rules.yaml --count 300000

Both runs read the same generated .json.gz files through the plugin's own file reader (no bridge),
rule_matching: all. The official run loads cloudtrail + json with the official rules as they are
(useAsync off: its async extraction spins on a loaded machine). The ctbridge run loads ctbridge
alone, with the official rules converted by `ctbridge rules migrate` (json.value[] ->
ctb.value[], the plugin requirement renamed). Prints the events/s of each (Falco's start-up,
measured on a one-record input, is subtracted), the ratio, and whether the alerts are identical
(rule, event time, output text); exits 1 if they are not.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def falco_config(plugin_name: str, plugin_path: str, json_path: str | None, open_params: str, out: Path,
                 init_config: dict[str, Any]) -> dict[str, Any]:
    plugins = [{"name": plugin_name, "library_path": plugin_path, "init_config": init_config,
                "open_params": open_params}]
    if json_path:
        plugins.append({"name": "json", "library_path": json_path, "init_config": ""})
    return {
        "engine": {"kind": "nodriver"},
        "config_files": [],
        "load_plugins": [p["name"] for p in plugins],
        "plugins": plugins,
        "plugins_hostinfo": False,
        "rule_matching": "all",
        "json_output": True,
        "json_include_output_property": True,
        "stdout_output": {"enabled": False},
        "syslog_output": {"enabled": False},
        "file_output": {"enabled": True, "keep_alive": True, "filename": str(out)},
        "output_timeout": 120000,
        "webserver": {"enabled": False},
        "watch_config_files": False,
    }


def run_falco(falco: str, cfg: dict[str, Any], rules: Path, work: Path, tag: str) -> tuple[float, list[dict[str, Any]]]:
    cfg_path = work / f"{tag}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    out = Path(cfg["file_output"]["filename"])
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    res = subprocess.run([falco, "-c", str(cfg_path), "-o", "engine.kind=nodriver", "--disable-source", "syscall",
                          "-r", str(rules)], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"{tag}: Falco exited {res.returncode}:\n{res.stderr[-3000:]}")
    alerts = [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")] if out.exists() else []
    return elapsed, alerts


def rules_for(name: str, official_rules: Path, work: Path) -> Path:
    """The official file as it is for cloudtrail; `ctbridge rules migrate`'s output for ctbridge."""
    if name != "ctbridge":
        return official_rules
    sys.path.insert(0, str(REPO))
    from bridge.rulestool.migrate import migrate_text

    out = migrate_text(official_rules.read_text())
    if out.errors:
        sys.exit(f"migrate: {out.errors}")
    path = work / "rules-ctbridge.yaml"
    path.write_text(out.text)
    return path


def alert_key(a: dict[str, Any]) -> tuple[str, str, str]:
    return (a["rule"], a["time"], a["output"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--falco", default=os.environ.get("FALCO_BINARY", "falco"))
    ap.add_argument("--plugin", default=str(REPO / "build" / "plugin" / "libctbridge.so"))
    ap.add_argument("--cloudtrail-plugin", required=True)
    ap.add_argument("--json-plugin", required=True)
    ap.add_argument("--rules", required=True, type=Path, help="the official aws_cloudtrail_rules.yaml")
    ap.add_argument("--count", type=int, default=300_000)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="ctb-compare-") as tmp:
        work = Path(tmp)
        data, one = work / "records", work / "one"
        for target, count in ((data, args.count), (one, 1)):
            subprocess.run([sys.executable, str(REPO / "bench" / "gen_records.py"), "--count", str(count),
                            "--out", str(target)], check=True)
        runs = {
            "cloudtrail": (args.cloudtrail_plugin, args.json_plugin, lambda d: str(d), {"useAsync": False}),
            "ctbridge": (args.plugin, None, lambda d: f"file://{d}", {}),
        }
        results: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        for name, (lib, json_lib, params, init) in runs.items():
            rules = rules_for(name, args.rules, work)
            out = work / f"{name}.jsonl"
            startup, _ = run_falco(args.falco, falco_config(name, lib, json_lib, params(one), out, init),
                                   rules, work, f"{name}-startup")
            total, alerts = run_falco(args.falco, falco_config(name, lib, json_lib, params(data), out, init),
                                      rules, work, name)
            results[name] = (max(total - startup, 1e-9), alerts)
            print(f"{name:10} {args.count / results[name][0]:>12,.0f} events/s  "
                  f"({total:.2f}s, start-up {startup:.2f}s, {len(alerts)} alerts)")
    base, ours = results["cloudtrail"], results["ctbridge"]
    print(f"ratio ctbridge / cloudtrail: {base[0] / ours[0]:.2f}x")
    a = collections.Counter(map(alert_key, base[1]))
    b = collections.Counter(map(alert_key, ours[1]))
    if a == b:
        print(f"alerts identical: {sum(a.values())} alerts")
        return
    print(f"alerts DIFFER: {sum((a - b).values())} only from cloudtrail, {sum((b - a).values())} only from ctbridge")
    for key in list((a - b).elements())[:5] + list((b - a).elements())[:5]:
        print("  ", key)
    sys.exit(1)


if __name__ == "__main__":
    main()
