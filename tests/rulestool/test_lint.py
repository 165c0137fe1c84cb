"""`ctbridge rules lint`: the bundled rules pass; each kind of mistake is caught."""

from __future__ import annotations

from pathlib import Path

from bridge.cli import main
from bridge.falco.locate import FalcoTarget
from bridge.rulestool.falcorun import validate
from bridge.rulestool.fieldtable import plugin_fields
from bridge.rulestool.lint import lint_files
from bridge.rulestool.ruleset import rules_files

REPO = Path(__file__).resolve().parents[2]
HEADER = "- required_engine_version: 0.10.0\n- required_plugin_versions: [{name: ctbridge, version: 0.1.0}]\n"
GOOD = """
- macro: m_ok
  condition: ct.name = "StopLogging"
- list: l_ok
  items: [a, b]
- rule: R
  desc: d
  condition: m_ok and not ct.user in (l_ok) and ctb.value[/requestParameters/name] exists
  output: "x %ct.user.arn %ct.region %ct.id"
  priority: WARNING
  tags: [cloud, aws, mitre_defense_evasion, T1562.008]
  source: aws_cloudtrail
"""


def lint_text(tmp_path: Path, plugin_path: str, text: str) -> list[str]:
    f = tmp_path / "r.yaml"
    f.write_text(text)
    return lint_files([f], set(plugin_fields(plugin_path))).errors


def test_bundled_rules_lint_clean(plugin_path: str) -> None:
    rep = lint_files(rules_files([str(REPO / "rules")]), set(plugin_fields(plugin_path)))
    assert rep.errors == []
    assert rep.rules >= 90


def test_good_rule_passes(tmp_path: Path, plugin_path: str) -> None:
    assert lint_text(tmp_path, plugin_path, HEADER + GOOD) == []


def test_each_mistake_is_reported(tmp_path: Path, plugin_path: str) -> None:
    cases = {
        'ct.name = "StopLogging"': ("ct.nam = \"StopLogging\"", "unknown field ct.nam"),
        "m_ok and": ("m_missing and", "unknown macro m_missing"),
        "(l_ok)": ("(l_missing)", "unknown list l_missing"),
        "priority: WARNING": ("priority: LOUD", "invalid priority"),
        " %ct.id\"": ("\"", "must include %ct.id"),
        "%ct.region": ("%ct.regio", "output field %ct.regio"),
        "mitre_defense_evasion, T1562.008": ("x", "MITRE ATT&CK tactic"),
        "source: aws_cloudtrail": ("source: syscall", "source must be aws_cloudtrail"),
    }
    for old, (new, message) in cases.items():
        errors = lint_text(tmp_path, plugin_path, HEADER + GOOD.replace(old, new, 1))
        assert any(message in e for e in errors), (message, errors)
    errors = lint_text(tmp_path, plugin_path, GOOD)
    assert any("required_engine_version" in e for e in errors)
    assert any("ctbridge" in e for e in errors)


def test_cli_lint_without_falco(capsys: object) -> None:
    assert main(["rules", "lint", "--no-falco", str(REPO / "rules")]) == 0


def test_every_file_validates_in_falco(falco: FalcoTarget, plugin_path: str, tmp_path: Path) -> None:
    files = rules_files([str(REPO / "rules")])
    common = [f for f in files if f.name.startswith("00_")]
    for f in files:
        group = [f] if f in common else [*common, f]
        ok, text = validate(falco, plugin_path, [str(p) for p in group], tmp_path)
        assert ok, f"{f.name}: {text[-2000:]}"
