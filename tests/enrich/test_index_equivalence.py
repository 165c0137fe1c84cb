"""The enricher's eventName index changes nothing: over every rule test case's records (attacks,
with their history) and a benign mix, one stream through an indexed enricher and one through an
enricher that checks every counter, set and sequence give the same bytes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bridge.enrich import Enricher, load_config
from bridge.model import Record
from bridge.rulestool.cases import load_cases, load_identities

REPO = Path(__file__).resolve().parents[2]


def _records(tmp: Path) -> list[Record]:
    tests = REPO / "rules" / "tests"
    cases = load_cases(sorted(p for p in tests.glob("*.yaml") if p.name != "identities.yaml"),
                       load_identities(tests / "identities.yaml"))
    recs = [r for c in cases for r in (*c.history, *c.records)]
    subprocess.run([sys.executable, str(REPO / "bench" / "gen_records.py"), "--count", "2000", "--per-file", "2000",
                    "--out", str(tmp)], check=True, capture_output=True)
    for f in sorted(tmp.glob("*.gz")):
        recs += json.loads(gzip.decompress(f.read_bytes()))["Records"]
    recs.sort(key=lambda r: str(r["eventTime"]))
    out = []
    for i, r in enumerate(recs):
        ts = datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        out.append(Record(raw=json.dumps(r, separators=(",", ":")).encode(), ts_ns=int(ts.timestamp()) * 10**9,
                          origin=f"#{i}"))
    return out


def test_index_gives_the_same_records_as_a_full_scan(tmp_path: Path) -> None:
    records = _records(tmp_path)
    indexed = Enricher(load_config())
    full = Enricher(load_config())  # every item a candidate for every record: no index
    full._counters = ({}, list(full.config.counters))
    full._firsts = ({}, list(full.config.first_seen))
    full._seqs = ({}, list(full.config.sequences))
    a = [indexed.process(r).raw for r in records]
    b = [full.process(r).raw for r in records]
    assert a == b
    # the corpus exercises what the index selects: counters, first-seen sets and sequences
    for key in (b'"count":', b'"first":', b'"seq":'):
        assert sum(key in x for x in a) > 0, key
