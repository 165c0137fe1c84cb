"""The rules in a real Falco: every test case of rules/tests/ (one Falco process), the benign-day
noise budget, and the coverage claims, which come from those same cases."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.falco.locate import FalcoTarget
from bridge.rulestool.cases import load_cases, load_identities
from bridge.rulestool.catalog import STRATUS
from bridge.rulestool.coverage import stratus_coverage, write_coverage
from bridge.rulestool.falcorun import run_records
from bridge.rulestool.ruleset import RuleSet, rules_files
from bridge.rulestool.testrun import run_tests

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "rules" / "tests"


def all_cases() -> list:  # type: ignore[type-arg]
    files = [f for f in sorted(CASES.glob("*.yaml")) if f.name != "identities.yaml"]
    return load_cases(files, load_identities(CASES / "identities.yaml"))


def test_every_case_passes_and_every_rule_has_both_kinds(falco: FalcoTarget, plugin_path: str, tmp_path: Path) -> None:
    report = run_tests(falco, plugin_path, rules_files([str(REPO / "rules")]), all_cases(), tmp_path)
    assert not report.failures, report.text()
    assert report.untested_positive == [] and report.untested_negative == [], report.text()
    assert report.unknown_rules == []
    assert report.disabled == ["All Cloudtrail Events"]
    assert len(report.results) > 150


def test_every_stratus_technique_has_a_case_that_alerts() -> None:
    covered = stratus_coverage(all_cases())
    missing = [sid for sid, _ in STRATUS if not covered.get(sid, (set(), []))[0]]
    assert missing == []
    assert len(STRATUS) == 44


def test_cli_rules_test_passes(falco: FalcoTarget, plugin_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", "--falco-binary", str(falco.binary), "--plugin", plugin_path]) == 0
    assert "0 failed" in capsys.readouterr().out


def _benign() -> object:
    spec = importlib.util.spec_from_file_location("benign_day", REPO / "bench" / "benign_day.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benign_day_stays_under_one_alert_per_10000_events(falco: FalcoTarget, plugin_path: str,
                                                           tmp_path: Path) -> None:
    bench = _benign()
    data = tmp_path / "day.jsonl"
    n = bench.build(30000, 7, False, data)  # type: ignore[attr-defined]
    alerts = run_records(falco, plugin_path, [str(p) for p in rules_files([str(REPO / "rules")])], data, tmp_path)
    assert n == 30000
    assert len(alerts) <= 3, [a["rule"] for a in alerts]


def test_coverage_files(tmp_path: Path) -> None:
    written = write_coverage(RuleSet.load(rules_files([str(REPO / "rules")])), all_cases(), tmp_path)
    md, svg, png = written
    assert "44 of 44" in md.read_text()
    assert svg.read_text().startswith("<svg") and "T1562.008" in svg.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(png.read_bytes()) > 2000
