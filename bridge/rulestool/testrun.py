"""`ctbridge rules test`: every case of rules/tests/ in ONE real Falco, alerts mapped back by ct.id."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.falco.locate import FalcoTarget
from bridge.rulestool.cases import Case, enriched_lines
from bridge.rulestool.falcorun import falco_version, run_records
from bridge.rulestool.ruleset import RuleSet


@dataclass
class CaseResult:
    case: Case
    fired: set[str]

    @property
    def ok(self) -> bool:
        return self.fired == self.case.expect


@dataclass
class TestReport:
    falco: str
    results: list[CaseResult] = field(default_factory=list)
    untested_positive: list[str] = field(default_factory=list)
    untested_negative: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    unknown_rules: list[str] = field(default_factory=list)  # named by cases, absent from the rules

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.untested_positive and not self.untested_negative \
            and not self.unknown_rules

    def text(self) -> str:
        passed = len(self.results) - len(self.failures)
        lines = [f"Falco {self.falco}: {len(self.results)} cases, {passed} passed, {len(self.failures)} failed"]
        for r in self.failures:
            missing = sorted(r.case.expect - r.fired)
            extra = sorted(r.fired - r.case.expect)
            lines.append(f"FAIL {r.case.file}: {r.case.name}: missing {missing or '-'}, unexpected {extra or '-'}")
        for title, names in (("rules without a positive case", self.untested_positive),
                             ("rules without a negative case", self.untested_negative),
                             ("rules named by cases but not loaded", self.unknown_rules),
                             ("disabled rules (not run)", self.disabled)):
            if names:
                lines.append(f"{title}: " + "; ".join(names))
        return "\n".join(lines)


def _id_overrides(ruleset: RuleSet) -> str:
    """Rules whose output lacks %ct.id get it appended (test runs only), to map alerts to cases."""
    import yaml

    items = [{"rule": r.name, "output": "(ct.id=%ct.id)", "override": {"output": "append"}}
             for r in ruleset.rules if "%ct.id" not in str(r.item.get("output", ""))]
    return yaml.safe_dump(items, sort_keys=False) if items else ""


def run_tests(target: FalcoTarget, plugin: str, rules_files: list[Path], cases: list[Case],
              workdir: Path | None = None) -> TestReport:
    ruleset = RuleSet.load(rules_files)
    enabled = {r.name for r in ruleset.rules if r.enabled}
    report = TestReport(falco=falco_version(target))
    report.disabled = sorted(r.name for r in ruleset.rules if not r.enabled)
    with tempfile.TemporaryDirectory(prefix="ctbridge-rules-") as tmp:
        work = Path(workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        data = work / "cases.jsonl"
        data.write_text("\n".join(enriched_lines(cases)) + "\n")
        files = [str(p) for p in rules_files]
        tagging = _id_overrides(ruleset)
        if tagging:
            extra = work / "zz_ctbridge_test_ids.yaml"
            extra.write_text(tagging)
            files.append(str(extra))
        alerts = run_records(target, plugin, files, data, work)
    by_id: dict[str, set[str]] = defaultdict(set)
    for a in alerts:
        fields: dict[str, Any] = a.get("output_fields") or {}
        by_id[str(fields.get("ct.id"))].add(str(a.get("rule")))
    positive: set[str] = set()
    negative: set[str] = set()
    named: set[str] = set()
    for case in cases:
        fired: set[str] = set()
        for eid in case.event_ids:
            fired |= by_id.get(eid, set())
        report.results.append(CaseResult(case, fired))
        positive |= case.expect & case.targets
        negative |= case.targets - case.expect
        named |= case.targets | case.expect
    report.untested_positive = sorted(enabled - positive)
    report.untested_negative = sorted(enabled - negative)
    report.unknown_rules = sorted(named - {r.name for r in ruleset.rules})
    return report
