"""Static checks of rules/*.yaml: shape, headers, and every field against the plugin's own field table.

Real Falco loads and runs the same files in tests/integration (falco -V and replays).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yaml"))
COMMON = RULES_DIR / "00_aws_common.yaml"  # lists and macros every other file builds on
PLUGIN = Path(os.environ.get("CTBRIDGE_PLUGIN", REPO / "build/plugin/libctbridge.so"))

PRIORITIES = {"emergency", "alert", "critical", "error", "warning", "notice", "informational", "info", "debug"}
RULE_KEYS = {"rule", "desc", "condition", "output", "priority", "source", "tags"}
OPTIONAL_RULE_KEYS = {"enabled", "exceptions", "override", "capture", "capture_duration", "warn_evttypes",
                      "skip-if-unknown-filter"}
PLUGIN_PREFIXES = ("ct.", "s3.", "ec2.", "ecr.", "iam.", "ctb.")
# Falco's generic fields that apply to plugin events (falco-facts.md §9).
GENERIC_FIELDS = {
    "evt.num", "evt.time", "evt.time.s", "evt.time.iso8601", "evt.datetime", "evt.rawtime", "evt.rawtime.s",
    "evt.rawtime.ns", "evt.reltime", "evt.source", "evt.pluginname", "evt.plugininfo", "evt.is_async",
    "evt.asynctype", "evt.hostname",
}

# Same shapes as libsinsp's filter parser: a field name, then an optional [argument].
FIELD = r"[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+"
ARG = r"\[[^\]\"'\s]*\]"
OPERATOR = (r"(?:==|=|!=|<=|<|>=|>|glob\s|iglob\s|contains\s|icontains\s|bcontains\s|startswith\s|"
            r"bstartswith\s|endswith\s|exists\b|in\b|intersects\b|pmatch\b)")
CONDITION_FIELD = re.compile(rf"(?<![\w.%])({FIELD})({ARG})?\s*(?={OPERATOR})")
OUTPUT_FIELD = re.compile(rf"%({FIELD})({ARG})?")
QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")


def load(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, list), f"{path.name}: a rules file is a YAML list"
    assert all(isinstance(item, dict) for item in data), f"{path.name}: every item is a mapping"
    return data


def expand_macros(items: list[dict[str, Any]], condition: str, depth: int = 0) -> str:
    """The condition with this file's macros written out, as Falco resolves them."""
    assert depth < 20, "macro recursion"
    macros = {str(i["macro"]): str(i["condition"]) for i in items if "macro" in i}

    def sub(m: re.Match[str]) -> str:
        name = m.group(0)
        return f"({expand_macros(items, macros[name], depth + 1)})" if name in macros else name

    return re.sub(r"(?<![\w.%/\[])[a-z][a-z0-9_]*\b(?![.\[])", sub, condition)


def referenced_fields(path: Path) -> set[tuple[str, str | None]]:
    """(field, argument) for every field a condition (rules and macros) or an output uses."""
    found: set[tuple[str, str | None]] = set()
    for item in load(path):
        if "condition" in item:
            # Literal strings may hold anything that looks like a field ("s3.amazonaws.com").
            text = QUOTED.sub('""', str(item["condition"]))
            for m in CONDITION_FIELD.finditer(text):
                found.add((m.group(1), m.group(2)[1:-1] if m.group(2) else None))
        if "output" in item:
            for m in OUTPUT_FIELD.finditer(str(item["output"])):
                found.add((m.group(1), m.group(2)[1:-1] if m.group(2) else None))
    return found


@pytest.fixture(scope="module")
def plugin_fields() -> dict[str, dict[str, Any]]:
    if not PLUGIN.is_file():
        pytest.skip(f"plugin library {PLUGIN} is not built yet (run `make plugin` or set CTBRIDGE_PLUGIN)")
    lib = ctypes.CDLL(str(PLUGIN))
    get_fields = lib.plugin_get_fields
    get_fields.restype = ctypes.c_char_p
    get_fields.argtypes = []
    raw = get_fields()
    assert raw, "plugin_get_fields returned NULL"
    fields = json.loads(raw.decode("utf-8"))
    return {f["name"]: f for f in fields}


def test_there_are_rules_files() -> None:
    assert RULE_FILES, "rules/ has no .yaml files"
    assert (RULES_DIR / "seed_scenario.yaml") in RULE_FILES


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_headers(path: Path) -> None:
    items = load(path)
    assert "required_engine_version" in items[0], f"{path.name}: must start with required_engine_version"
    version = str(items[0]["required_engine_version"])
    assert re.fullmatch(r"\d+|\d+\.\d+\.\d+", version), f"{path.name}: bad engine version {version!r}"
    plugins = [i for i in items if "required_plugin_versions" in i]
    assert len(plugins) == 1, f"{path.name}: needs one required_plugin_versions item"
    names = {p["name"]: str(p["version"]) for p in plugins[0]["required_plugin_versions"]}
    assert names == {"ctbridge": "0.1.0"}, f"{path.name}: must require exactly ctbridge 0.1.0, got {names}"


@pytest.mark.parametrize("path", [p for p in RULE_FILES if p != COMMON], ids=lambda p: p.name)
def test_rule_shape(path: Path) -> None:
    rules = [i for i in load(path) if "rule" in i]
    assert rules, f"{path.name}: no rules"
    for rule in rules:
        name = rule["rule"]
        assert RULE_KEYS <= set(rule), f"{path.name}: {name!r} lacks {sorted(RULE_KEYS - set(rule))}"
        unknown = set(rule) - RULE_KEYS - OPTIONAL_RULE_KEYS
        assert not unknown, f"{path.name}: {name!r} has unknown keys {sorted(unknown)}"
        assert rule["source"] == "aws_cloudtrail", f"{path.name}: {name!r} source is {rule['source']!r}"
        assert str(rule["priority"]).lower() in PRIORITIES, f"{path.name}: {name!r} priority {rule['priority']!r}"
        assert isinstance(rule["tags"], list) and rule["tags"], f"{path.name}: {name!r} needs tags"
        assert all(isinstance(t, str) and t for t in rule["tags"])
        assert {"cloud", "aws"} <= set(rule["tags"])
        if rule.get("enabled", True):
            assert any(t.startswith("mitre_") for t in rule["tags"]), f"{name!r} has no MITRE tactic tag"
            assert any(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in rule["tags"]), f"{name!r} has no technique tag"
        for legacy in ("jevt.", "json.", "ka."):
            assert legacy not in str(rule["condition"]) and legacy not in str(rule["output"]), f"{name!r} uses {legacy}*"
        for wanted in ("%ct.region", "%ct.id"):
            assert wanted in str(rule["output"]), f"{path.name}: {name!r} output lacks {wanted}"


def test_priorities_mean_something() -> None:
    # CRITICAL is for what someone should act on now: a minority of the rules.
    rules = [i for p in RULE_FILES for i in load(p) if "rule" in i and i.get("enabled", True)]
    critical = [r["rule"] for r in rules if str(r["priority"]).upper() == "CRITICAL"]
    assert 0 < len(critical) < len(rules) / 3, critical
    assert {str(r["priority"]).upper() for r in rules} >= {"CRITICAL", "WARNING", "NOTICE"}


def test_rule_names_unique_and_seed_rule_kept() -> None:
    names = [i["rule"] for p in RULE_FILES for i in load(p) if "rule" in i]
    assert len(names) == len(set(names)), f"duplicate rule names: {names}"
    seed = next(i for i in load(RULES_DIR / "seed_scenario.yaml") if i.get("rule") == "Delete Bucket Encryption")
    assert seed["priority"] == "CRITICAL"
    # the seed's own tags, then the service and MITRE ATT&CK tags every rule carries
    assert seed["tags"][:5] == ["cloud", "source=cloudtrail", "aws", "NIST800_53", "NIST800_53_AU8"]
    assert {"mitre_defense_evasion", "T1562"} <= set(seed["tags"])
    for field in ("%ct.user.arn", "%ct.srcip", "%ct.region", "%s3.bucket"):
        assert field in seed["output"]


def test_macros_and_lists_are_defined_in_their_file_or_the_common_one() -> None:
    # Each file loads with 00_aws_common.yaml before it (falco -V 00_aws_common.yaml -V file).
    common = {i.get("macro") for i in load(COMMON)} | {i.get("list") for i in load(COMMON)}
    for path in RULE_FILES:
        items = load(path)
        defined = {i.get("macro") for i in items} | {i.get("list") for i in items} | common
        defined.discard(None)
        for item in items:
            if "condition" not in item:
                continue
            text = QUOTED.sub('""', str(item["condition"]))
            text = CONDITION_FIELD.sub(" ", re.sub(rf"{FIELD}{ARG}", " ", text))
            words = set(re.findall(r"\b[a-z][a-z0-9_]*\b", text)) - {"and", "or", "not", "in", "exists", "contains"}
            missing = {w for w in words if "_" in w and w not in defined}
            assert not missing, f"{path.name}: {item.get('rule') or item.get('macro')} uses undefined {missing}"


def test_field_reference_parser_finds_what_rules_use() -> None:
    # The extractor must see quoted values as values, and field args as args.
    found = referenced_fields(RULES_DIR / "aws_s3.yaml")
    assert ("ct.src", None) in found
    assert ("ctb.value", "/requestParameters/x-amz-acl/0") in found
    assert ("s3.bucket", None) in found
    assert not any(name.startswith("s3.amazonaws") for name, _ in found)


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_fields_exist_in_plugin(path: Path, plugin_fields: dict[str, dict[str, Any]]) -> None:
    for name, arg in sorted(referenced_fields(path), key=lambda x: (x[0], x[1] or "")):
        if name.startswith("evt."):
            assert name in GENERIC_FIELDS, f"{path.name}: {name} is not a generic field for plugin events"
            continue
        assert name.startswith(PLUGIN_PREFIXES), f"{path.name}: {name} belongs to no field family we provide"
        assert name in plugin_fields, f"{path.name}: the plugin has no field {name}"
        spec = plugin_fields[name].get("arg") or {}
        if arg is None:
            assert not spec.get("isRequired"), f"{path.name}: {name} needs an argument"
        else:
            assert spec.get("isKey") or spec.get("isIndex"), f"{path.name}: {name} takes no argument"
            if spec.get("isIndex"):
                assert arg.isdigit(), f"{path.name}: {name}[{arg}] needs a numeric index"
            if name == "ctb.value":
                assert arg.startswith("/"), f"{path.name}: ctb.value[{arg}] is not a JSON pointer"
