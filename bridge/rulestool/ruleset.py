"""A parsed view of Falco rules files: rules, macros, lists (later definitions override earlier)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bridge.errors import ConfigError


@dataclass
class Rule:
    name: str
    file: str
    item: dict[str, Any]

    @property
    def enabled(self) -> bool:
        return bool(self.item.get("enabled", True))

    @property
    def tags(self) -> list[str]:
        return [str(t) for t in self.item.get("tags") or []]

    @property
    def priority(self) -> str:
        return str(self.item.get("priority", ""))


@dataclass
class RuleSet:
    rules: list[Rule] = field(default_factory=list)
    macros: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[Any]] = field(default_factory=dict)
    items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (file, item) in load order

    @classmethod
    def load(cls, files: list[Path]) -> RuleSet:
        rs = cls()
        by_name: dict[str, Rule] = {}
        for path in files:
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
            if data is None:
                continue
            if not isinstance(data, list):
                raise ConfigError(f"{path}: a rules file is a YAML list of items")
            for item in data:
                if not isinstance(item, dict):
                    raise ConfigError(f"{path}: every item must be a mapping, got {item!r}")
                rs.items.append((path.name, item))
                if "macro" in item and "condition" in item:
                    rs.macros[str(item["macro"])] = str(item["condition"])
                elif "list" in item:
                    rs.lists[str(item["list"])] = list(item.get("items") or [])
                elif "rule" in item:
                    name = str(item["rule"])
                    if name in by_name and "override" in item:
                        for key, how in (item.get("override") or {}).items():
                            if how == "replace" or key not in by_name[name].item:
                                by_name[name].item[key] = item[key]
                            else:
                                by_name[name].item[key] = f"{by_name[name].item[key]} {item[key]}"
                    elif name not in by_name:
                        by_name[name] = Rule(name, path.name, dict(item))
                        rs.rules.append(by_name[name])
        return rs


def rules_files(paths: list[str]) -> list[Path]:
    """Files and directories (their *.yaml, in name order, like Falco) as a flat list."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(x for x in p.glob("*.yaml") if x.is_file())
        elif p.is_file():
            out.append(p)
        else:
            raise ConfigError(f"rules path not found: {p}")
    return out
