"""`ctbridge rules migrate`: the seed's legacy rule and official-plugin-style rules, rewritten for
ctbridge, load with the plugin alone and raise the same alerts in a real Falco."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from bridge.errors import ConfigError
from bridge.falco.locate import FalcoTarget
from bridge.rulestool.cases import load_cases, load_identities
from bridge.rulestool.falcorun import validate
from bridge.rulestool.migrate import migrate_text
from bridge.rulestool.testrun import run_tests

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
SEED_DOC = REPO.parent / "shared" / "seed" / "000_7efce9e576916e89.txt"  # shared/ sits beside the checkout


def seed_rule() -> str:
    # The rule exactly as the seed document prints it (a copy is kept next to the tests).
    return (DATA / "seed_legacy_rule.yaml").read_text()


def test_seed_rule_becomes_the_equivalent_ctbridge_rule() -> None:
    out = migrate_text(seed_rule())
    items = yaml.safe_load(out.text)
    assert items[0] == {"required_engine_version": "0.10.0"}
    assert items[1] == {"required_plugin_versions": [{"name": "ctbridge", "version": "0.1.0"}]}
    rule = items[2]
    assert rule["rule"] == "Delete bucket encryption" and rule["source"] == "aws_cloudtrail"
    assert rule["condition"] == 'ct.name="DeleteBucketEncryption" and not ct.error exists'
    assert "%ct.user.arn" in rule["output"] and "%s3.bucket" in rule["output"] and "jevt" not in rule["output"]
    assert rule["tags"] == ["cloud", "source=cloudtrail", "aws", "NIST800_53", "NIST800_53_AU8"]
    assert any("k8s_audit -> aws_cloudtrail" in n for n in out.notes) and not out.errors


def test_seed_copy_matches_the_seed_document() -> None:
    if not SEED_DOC.is_file():
        pytest.skip(f"{SEED_DOC} is not on this machine")
    assert seed_rule().strip() in SEED_DOC.read_text()


def test_official_style_rules_use_ctb_value_and_require_ctbridge() -> None:
    out = migrate_text((DATA / "official_style_rules.yaml").read_text())
    text = out.text
    assert "json.value" not in text and "ctb.value[/additionalEventData/MFAUsed]" in text
    items = yaml.safe_load(text)
    assert items[1]["required_plugin_versions"] == [{"name": "ctbridge", "version": "0.1.0"}]
    assert items[0]["required_engine_version"] == 10  # already new enough: kept
    assert any("cloudtrail -> ctbridge" in n for n in out.notes)


def test_legacy_append_and_enabled_become_override() -> None:
    text = """
- list: approved_regions
  items: [eu-north-1]
  append: true
- rule: Console Login Without MFA
  condition: and not jevt.value[/userIdentity/userName] = "kiosk"
  append: true
- rule: List Buckets
  enabled: true
"""
    items = yaml.safe_load(migrate_text(text).text)
    assert items[2] == {"list": "approved_regions", "items": ["eu-north-1"], "override": {"items": "append"}}
    assert items[3]["override"] == {"condition": "append"}
    assert items[3]["condition"] == 'and not ctb.value[/userIdentity/userName] = "kiosk"'
    assert "source" not in items[3]  # an append keeps the rule's source
    assert items[4] == {"rule": "List Buckets", "enabled": True, "override": {"enabled": "replace"}}


def test_kubernetes_fields_are_errors_and_bad_input_is_refused() -> None:
    out = migrate_text("- rule: K\n  condition: ka.verb = create\n  output: x\n  priority: INFO\n  desc: d\n")
    assert out.errors and "Kubernetes" in out.errors[0]
    with pytest.raises(ConfigError):
        migrate_text("just: a mapping: broken")


def test_migrated_rules_pass_their_cases_in_falco(falco: FalcoTarget, plugin_path: str, tmp_path: Path) -> None:
    seed = tmp_path / "seed_migrated.yaml"
    seed.write_text(migrate_text(seed_rule()).text)
    official = tmp_path / "official_migrated.yaml"
    official.write_text(migrate_text((DATA / "official_style_rules.yaml").read_text()).text)
    for f in (seed, official):
        ok, text = validate(falco, plugin_path, [str(f)], tmp_path)
        assert ok, text[-2000:]
    cases = load_cases([DATA / "migrated_cases.yaml"], load_identities(REPO / "rules" / "tests" / "identities.yaml"))
    report = run_tests(falco, plugin_path, [seed, official], cases, tmp_path / "work")
    assert not report.failures, report.text()
    assert report.ok, report.text()


def test_official_ruleset_migrated_raises_its_alerts_in_falco(falco: FalcoTarget, plugin_path: str,
                                                             tmp_path: Path) -> None:
    # The official aws_cloudtrail_rules.yaml is not shipped here (falcosecurity/plugins,
    # plugins/cloudtrail/rules/); point OFFICIAL_CLOUDTRAIL_RULES at a copy to run this.
    official = os.environ.get("OFFICIAL_CLOUDTRAIL_RULES")
    if not official or not Path(official).is_file():
        pytest.skip("set OFFICIAL_CLOUDTRAIL_RULES to the official aws_cloudtrail_rules.yaml")
    out = migrate_text(Path(official).read_text())
    assert not out.errors and "json.value" not in out.text
    migrated = tmp_path / "official_migrated.yaml"
    migrated.write_text(out.text)
    ok, text = validate(falco, plugin_path, [str(migrated)], tmp_path)
    assert ok, text[-2000:]
    cases = load_cases([DATA / "official_rules_cases.yaml"],
                       load_identities(REPO / "rules" / "tests" / "identities.yaml"))
    report = run_tests(falco, plugin_path, [migrated], cases, tmp_path / "work")
    assert not report.failures and not report.untested_positive and not report.untested_negative, report.text()
    assert report.disabled == ["All Cloudtrail Events", "List Buckets"]
