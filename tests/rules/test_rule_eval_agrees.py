"""The stand-in evaluator (tests/rule_eval.py) against what real Falco decides: on every rule test
case, the stand-in must raise exactly the rules the case expects, which `ctbridge rules test`
proves in Falco (tests/rules/test_rules_in_falco.py). Where they disagree, the stand-in is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from plugin_abi import PluginLib, default_library
from rule_eval import Evaluator, fields_of, load_rules

from bridge.rulestool.cases import enriched_lines, load_cases, load_identities

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "rules" / "tests"


def test_stand_in_agrees_with_the_cases_falco_passes() -> None:
    path = default_library()
    if not Path(path).is_file():
        pytest.skip(f"plugin library {path} is not built (run `make plugin`)")
    rules, macros, lists = load_rules(sorted((REPO / "rules").glob("*.yaml")))
    names = sorted(fields_of([*macros.values(), *(r["condition"] for r in rules)]))
    files = [f for f in sorted(CASES.glob("*.yaml")) if f.name != "identities.yaml"]
    cases = load_cases(files, load_identities(CASES / "identities.yaml"))
    state = PluginLib(path).init("")
    disagreements: list[str] = []
    try:
        lines = iter(enriched_lines(cases))
        evtnum = 0
        for case in cases:
            fired: set[str] = set()
            for _ in case.records:
                evtnum += 1
                payload = next(lines).encode()
                values: dict[str, Any] = dict(zip(names, state.extract(payload, names, evtnum=evtnum), strict=True))
                fired |= {r["rule"] for r in rules if Evaluator(macros, lists, values).run(r["condition"])}
            if fired != case.expect:
                disagreements.append(f"{case.name}: stand-in {sorted(fired)} vs Falco {sorted(case.expect)}")
    finally:
        state.destroy()
    assert disagreements == []
    assert len(cases) > 150
