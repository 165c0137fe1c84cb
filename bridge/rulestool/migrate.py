"""`ctbridge rules migrate`: CloudTrail rules written for other sources, rewritten for ctbridge.

Two kinds of input:
- legacy rules for Falco's old JSON source (k8s_audit era, Sysdig CloudConnector): conditions on
  `jevt.value[/pointer]`, `source: k8s_audit` or no source at all;
- rules for the official cloudtrail + json plugins: `required_plugin_versions` naming cloudtrail
  and json, `json.value[/pointer]` next to the ct.* fields (which ctbridge has, identical).

`jevt.value[...]` becomes the ct.* field with the same value where one exists (eventName ->
ct.name, ...), otherwise `ctb.value[...]` with the same JSON pointer; `json.value[...]` always
becomes `ctb.value[...]` (same pointer, same values). The header requires ctbridge, rules get
`source: aws_cloudtrail`, and the deprecated `append: true` becomes `override`. Comments are not
kept (the file is re-written from its parsed form).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from bridge.errors import ConfigError

# JSON pointer -> ct.* field whose value is the same string (ct-fields.md: rule S fields).
POINTER_FIELDS = {
    "/eventName": "ct.name",
    "/eventSource": "ct.src",
    "/eventID": "ct.id",
    "/errorCode": "ct.error",
    "/errorMessage": "ct.errormessage",
    "/awsRegion": "ct.region",
    "/sourceIPAddress": "ct.srcip",
    "/userAgent": "ct.useragent",
    "/userIdentity/arn": "ct.user.arn",
    "/userIdentity/type": "ct.user.identitytype",
    "/userIdentity/principalId": "ct.user.principalid",
    "/requestParameters/bucketName": "s3.bucket",
    "/requestParameters/roleName": "iam.role",
    "/requestParameters/policyName": "iam.policy",
    "/requestParameters/repositoryName": "ecr.repository",
    "/requestParameters/imageTag": "ecr.imagetag",
}
LEGACY = re.compile(r"\b(jevt|json)\.value\[([^\]]*)\]")
WHOLE = re.compile(r"\b(jevt|json)\.obj\b")
RAWTIME = re.compile(r"\b(jevt|json)\.rawtime\b")
K8S = re.compile(r"\bka\.[a-z.]+")
PLUGIN = {"name": "ctbridge", "version": "0.1.0"}
APPENDABLE = {"rule": ("condition", "output", "desc", "tags", "exceptions"),
              "macro": ("condition",), "list": ("items",)}


@dataclass
class MigrateResult:
    text: str
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _fields(text: str, notes: list[str], errors: list[str], where: str) -> str:
    def value(m: re.Match[str]) -> str:
        kind, ptr = m.group(1), m.group(2)
        if kind == "jevt" and ptr in POINTER_FIELDS:
            return POINTER_FIELDS[ptr]
        return f"ctb.value[{ptr}]"

    out = LEGACY.sub(value, text)
    if WHOLE.search(out):
        notes.append(f"{where}: jevt.obj/json.obj became ct.request is NOT equivalent; "
                     "it was replaced by ctb.value[] (the whole record)")
        out = WHOLE.sub("ctb.value[]", out)
    out = RAWTIME.sub("evt.rawtime", out)
    for m in K8S.finditer(out):
        errors.append(f"{where}: {m.group(0)} is a Kubernetes audit field, not CloudTrail; rule left as is")
    return out


def _uses_legacy(item: dict[str, Any]) -> bool:
    text = " ".join(str(item.get(k, "")) for k in ("condition", "output"))
    return bool(LEGACY.search(text) or WHOLE.search(text) or RAWTIME.search(text))


def _convert_item(item: dict[str, Any], notes: list[str], errors: list[str]) -> dict[str, Any]:
    kind = next((k for k in ("rule", "macro", "list") if k in item), "")
    where = f"{kind} {item.get(kind)!r}" if kind else "item"
    out = dict(item)
    legacy = _uses_legacy(item)
    for key in ("condition", "output"):
        if key in out:
            # Folded (>) YAML turns line breaks into spaces; keep that meaning in the new file.
            out[key] = " ".join(_fields(str(out[key]), notes, errors, where).split())
    if "desc" in out:
        out["desc"] = " ".join(str(out["desc"]).split())
    if kind == "rule":
        src = out.get("source")
        if src in ("k8s_audit", "cloudtrail") or (src is None and legacy and "append" not in out):
            out["source"] = "aws_cloudtrail"
            if src != "aws_cloudtrail":
                notes.append(f"{where}: source {src or '(none: syscall)'} -> aws_cloudtrail")
    if out.pop("append", False) is True:
        keys = [k for k in APPENDABLE.get(kind, ()) if k in out]
        out["override"] = {k: "append" for k in keys}
        notes.append(f"{where}: append: true -> override: {out['override']}")
    elif kind == "rule" and set(out) == {"rule", "enabled"}:
        out["override"] = {"enabled": "replace"}
    return out


def _engine_version(v: Any) -> Any:
    """The version as given when it is 10 (0.10.0) or newer, else 0.10.0."""
    text = str(v)
    if re.fullmatch(r"\d+", text):
        minor = int(text)
    else:
        m = re.fullmatch(r"0\.(\d+)\.\d+", text)
        minor = int(m.group(1)) if m else 0
    return v if minor >= 10 else "0.10.0"


def migrate_items(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    notes: list[str] = []
    errors: list[str] = []
    body = [_convert_item(i, notes, errors) for i in items
            if "required_engine_version" not in i and "required_plugin_versions" not in i]
    engine = next((i["required_engine_version"] for i in items if "required_engine_version" in i), None)
    plugins: list[dict[str, Any]] = [PLUGIN]
    for item in items:
        for p in item.get("required_plugin_versions") or []:
            if isinstance(p, dict) and p.get("name") not in ("cloudtrail", "json", "ctbridge"):
                plugins.append(p)
                notes.append(f"kept the requirement on plugin {p.get('name')!r}")
            elif isinstance(p, dict) and p.get("name") in ("cloudtrail", "json"):
                notes.append(f"required plugin {p['name']} -> ctbridge (provides its fields)")
    new_engine = _engine_version(engine) if engine is not None else "0.10.0"
    if engine is None:
        notes.append("added required_engine_version 0.10.0 (plugin rules with field arguments)")
    elif engine != new_engine:
        notes.append(f"required_engine_version {engine} -> {new_engine} (plugin rules with field arguments)")
    header: list[dict[str, Any]] = [{"required_engine_version": new_engine}, {"required_plugin_versions": plugins}]
    return header + body, notes, errors


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str)


def migrate_text(text: str) -> MigrateResult:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}") from exc
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
        raise ConfigError("expected a Falco rules file: a YAML list of items (rules, macros, lists)")
    items, notes, errors = migrate_items(data)
    head = "# Migrated for the ctbridge plugin by `ctbridge rules migrate`.\n\n"
    parts = [yaml.dump([i], Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True, default_flow_style=None)
             for i in items]
    return MigrateResult(head + "\n".join(parts), notes, errors)
