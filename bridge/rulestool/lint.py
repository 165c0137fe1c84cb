"""`ctbridge rules lint`: rules files checked without Falco (schema, fields, macros, lists, outputs,
priorities, tags), then, where a Falco exists, `falco -V` on every file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bridge.rulestool.fieldtable import FALCO_FIELDS
from bridge.rulestool.ruleset import RuleSet

PRIORITIES = {"emergency", "alert", "critical", "error", "warning", "notice", "informational", "info", "debug"}
RULE_KEYS = {"rule", "desc", "condition", "output", "priority", "source", "enabled", "tags", "exceptions",
             "override", "append", "capture", "capture_duration", "warn_evttypes", "skip-if-unknown-filter"}
NEW_RULE_KEYS = ("condition", "output", "desc", "priority")
OPERATORS = {"=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains", "bcontains", "startswith",
             "bstartswith", "endswith", "glob", "iglob", "regex", "in", "intersects", "pmatch", "exists"}
KEYWORDS = {"and", "or", "not"}
TRANSFORMERS = {"tolower", "toupper", "b64", "basename", "len", "join", "concat", "getopt", "val"}
LIST_OPS = {"in", "intersects", "pmatch"}
TOKEN = re.compile(r"""
    (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<field>[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)(?P<arg>\[[^\]]*\])?
  | (?P<op><=|>=|==|!=|=|<|>)
  | (?P<p>[(),])
  | (?P<word>[^\s(),=<>!"']+)
""", re.VERBOSE)
OUTPUT_FIELD = re.compile(r"%([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)(\[[^\]]*\])?")
MITRE_TACTIC = re.compile(r"^mitre_[a-z_]+$")
MITRE_TECHNIQUE = re.compile(r"^T\d{4}(\.\d{3})?$")


@dataclass
class LintReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rules: int = 0
    files: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def check_condition(text: str, where: str, fields: set[str], rs: RuleSet, errors: list[str]) -> None:
    tokens = [(m.lastgroup, m) for m in TOKEN.finditer(text)]
    in_list = 0  # depth of the parentheses of an `in (...)` value list
    depth = 0
    prev = ""
    for i, (kind, m) in enumerate(tokens):
        nxt = tokens[i + 1][1].group(0) if i + 1 < len(tokens) else ""
        if kind == "p":
            ch = m.group(0)
            if ch == "(":
                depth += 1
                if prev in LIST_OPS and not in_list:
                    in_list = depth
            elif ch == ")":
                if in_list == depth:
                    in_list = 0
                depth -= 1
            prev = ch
            continue
        if kind == "field" and m.group("field") in OPERATORS | KEYWORDS:
            kind = "word"
        if kind == "field":
            name = m.group("field")
            if name not in fields and not in_list:
                errors.append(f"{where}: unknown field {name}")
            if name in fields and m.group("arg") is None and name in {"ctb.value", "ctb.count", "ctb.first", "ctb.seq"}:
                errors.append(f"{where}: {name} needs an argument, e.g. {name}[...]")
        elif kind == "word":
            w = m.group(0)
            if in_list:
                if re.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+", w) and w not in rs.lists:
                    errors.append(f"{where}: unknown list {w}")
            elif w in OPERATORS or w in KEYWORDS or re.fullmatch(r"-?\d+(\.\d+)?", w) or w in TRANSFORMERS and nxt == "(":
                pass
            elif prev in OPERATORS - {"exists"} and prev not in LIST_OPS:
                pass  # a bare literal on the right of a comparison
            elif w not in rs.macros:
                errors.append(f"{where}: unknown macro {w}")
        prev = m.group(0)
    if depth != 0:
        errors.append(f"{where}: unbalanced parentheses")


def lint_files(files: list[Path], fields: set[str], *, require_mitre: bool = True) -> LintReport:
    rep = LintReport(files=len(files))
    fields = fields | FALCO_FIELDS
    rs = RuleSet.load(files)
    used_macros: set[str] = set()
    for fname in {f for f, _ in rs.items}:
        items = [it for f, it in rs.items if f == fname]
        has_rules = any("rule" in it for it in items)
        if has_rules and not any("required_engine_version" in it for it in items):
            rep.errors.append(f"{fname}: no required_engine_version item")
        plugins = [p for it in items for p in (it.get("required_plugin_versions") or [])]
        if has_rules and not any(isinstance(p, dict) and p.get("name") == "ctbridge" for p in plugins):
            rep.errors.append(f"{fname}: required_plugin_versions must name ctbridge")
    for fname, item in rs.items:
        if "rule" in item:
            rep.rules += 0 if "override" in item or "append" in item else 1
            _lint_rule(fname, item, fields, rs, rep, require_mitre)
        elif "macro" in item:
            if "condition" not in item:
                rep.errors.append(f"{fname}: macro {item['macro']} has no condition")
            else:
                check_condition(str(item["condition"]), f"{fname}: macro {item['macro']}", fields, rs, rep.errors)
        elif "list" in item:
            if not isinstance(item.get("items"), list):
                rep.errors.append(f"{fname}: list {item['list']} needs items: [...]")
        elif not ({"required_engine_version", "required_plugin_versions"} & set(item)):
            rep.errors.append(f"{fname}: unknown item {sorted(item)}")
        used_macros |= set(re.findall(r"[a-z][a-z0-9_]*", str(item.get("condition", ""))))
    for name in rs.macros:
        if name not in used_macros:
            rep.warnings.append(f"macro {name} is never used")
    return rep


def _lint_rule(fname: str, item: dict[str, Any], fields: set[str], rs: RuleSet, rep: LintReport,
               require_mitre: bool) -> None:
    name = str(item["rule"])
    where = f"{fname}: rule {name!r}"
    unknown = set(item) - RULE_KEYS
    if unknown:
        rep.errors.append(f"{where}: unknown keys {sorted(unknown)}")
    is_new = "override" not in item and "append" not in item
    if is_new:
        for key in NEW_RULE_KEYS:
            if not str(item.get(key, "")).strip():
                rep.errors.append(f"{where}: missing {key}")
        if item.get("source") != "aws_cloudtrail":
            rep.errors.append(f"{where}: source must be aws_cloudtrail (got {item.get('source')!r})")
    if "priority" in item and str(item["priority"]).lower() not in PRIORITIES:
        rep.errors.append(f"{where}: invalid priority {item['priority']!r}")
    if "condition" in item:
        check_condition(str(item["condition"]), where, fields, rs, rep.errors)
    if "output" in item:
        out = str(item["output"])
        for m in OUTPUT_FIELD.finditer(out):
            if m.group(1) not in fields:
                rep.errors.append(f"{where}: output field %{m.group(1)} does not exist")
        if is_new and "%ct.id" not in out:
            rep.errors.append(f"{where}: output must include %ct.id (tests map alerts to records by it)")
    if is_new:
        tags = [str(t) for t in item.get("tags") or []]
        if not tags:
            rep.errors.append(f"{where}: no tags")
        elif "aws" not in tags:
            rep.errors.append(f"{where}: tags must include aws")
        if require_mitre and item.get("enabled", True) and tags:
            if not any(MITRE_TACTIC.match(t) for t in tags):
                rep.errors.append(f"{where}: no MITRE ATT&CK tactic tag (mitre_*)")
            if not any(MITRE_TECHNIQUE.match(t) for t in tags):
                rep.errors.append(f"{where}: no MITRE ATT&CK technique tag (T####)")


def yaml_ok(path: Path) -> str | None:
    try:
        yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        return str(exc)
    return None
