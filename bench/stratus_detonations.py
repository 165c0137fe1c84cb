"""Replay Stratus Red Team's recorded detonation logs through the enrich stage and a real Falco
with our rules, and report which techniques raise an alert.

Stratus Red Team publishes the CloudTrail records of a detonation of many AWS techniques
(docs/detonation-logs/<technique>.json in github.com/DataDog/stratus-red-team; identifiers are
anonymized). They are not copied into this repository; point this script at a checkout:

    .venv/bin/python bench/stratus_detonations.py ~/src/stratus-red-team/docs/detonation-logs
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bridge.enrich import Enricher
from bridge.model import Record


def _ts(rec: dict[str, object]) -> int:
    t = datetime.strptime(str(rec["eventTime"]), "%Y-%m-%dT%H:%M:%SZ")
    return int(t.timestamp()) * 10**9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", type=Path, help="the detonation-logs directory of a stratus-red-team checkout")
    ap.add_argument("--rules", default=str(REPO / "rules"))
    args = ap.parse_args()
    from bridge.commands._shared import default_plugin
    from bridge.rulestool.falcorun import falco_target, falco_version, run_records
    from bridge.rulestool.ruleset import rules_files

    owner: dict[str, str] = {}
    lines: list[bytes] = []
    files = sorted(args.logs.glob("aws.*.json"))
    for f in files:
        technique = f.stem
        records = sorted(json.loads(f.read_text()), key=lambda r: r["eventTime"])
        enricher = Enricher()  # each detonation on its own, as in a fresh account
        for rec in records:
            owner[rec["eventID"]] = technique
            raw = json.dumps(rec, separators=(",", ":")).encode()
            lines.append(enricher.process(Record(raw=raw, ts_ns=_ts(rec), origin=technique)).raw)
    fired: dict[str, set[str]] = defaultdict(set)
    with tempfile.TemporaryDirectory(prefix="stratus-") as tmp:
        data = Path(tmp) / "detonations.jsonl"
        data.write_bytes(b"\n".join(lines) + b"\n")
        target = falco_target()
        for a in run_records(target, default_plugin(), [str(p) for p in rules_files([args.rules])], data, Path(tmp)):
            fired[owner.get(str(a["output_fields"].get("ct.id")), "?")].add(a["rule"])
    hit = [f.stem for f in files if fired.get(f.stem)]
    print(f"Falco {falco_version(target)}: {len(hit)} of {len(files)} recorded detonations raise an alert")
    for f in files:
        print(f"  {'ok  ' if fired.get(f.stem) else 'MISS'} {f.stem}: {', '.join(sorted(fired.get(f.stem, ()))) or '-'}")
    return 0 if len(hit) == len(files) else 1


if __name__ == "__main__":
    sys.exit(main())
