"""A small evaluator for the subset of Falco's condition language our rules use.

It stands in for Falco's rule engine (libsinsp filters) where no Falco is available: fast unit
tests and the CLI sidecar test evaluate the real rules files on field values from the real plugin.
It decides nothing: `ctbridge rules test` runs every rule's cases in a real Falco, and where the
two disagree Falco is right and this file is fixed.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import yaml

TOKEN = re.compile(
    r"""\s*(?:
      (?P<lp>\() | (?P<rp>\)) | (?P<comma>,)
    | (?P<op>==|=|!=|>=|<=|>|<|contains(?=\s)|icontains(?=\s)|startswith(?=\s)|endswith(?=\s)|glob(?=\s)
             |exists\b|in(?=[\s(]))
    | (?P<kw>and|or|not)(?=[\s(])
    | (?P<val>val)(?=\()
    | (?P<field>[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+)(?:\[(?P<arg>[^\]"'\s]+)\])?
    | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<word>[^()"'\s=,<>!]+)
    )""",
    re.VERBOSE,
)


def tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        assert m and m.end() > pos, f"cannot parse condition at {text[pos:pos + 40]!r}"
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "arg":
            kind = "field"
        value = m.group(kind)
        if kind == "field" and m.group("arg"):
            value = f"{value}[{m.group('arg')}]"
        if kind == "str":
            value = value[1:-1].encode().decode("unicode_escape")
        out.append((kind, value))
    return out


def load_rules(paths: list[Path]) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, list[str]]]:
    """Enabled rules, macros and lists of several files, shared across files as Falco does."""
    rules: list[dict[str, Any]] = []
    macros: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for path in paths:
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            if "macro" in item:
                macros[item["macro"]] = item["condition"]
            elif "list" in item:
                lists[item["list"]] = [str(x) for x in item["items"]]
            elif "rule" in item and item.get("enabled", True):
                rules.append(item)
    return rules, macros, lists


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class Evaluator:
    """Evaluates one condition for one event: absent fields make every comparison false."""

    def __init__(self, macros: dict[str, str], lists: dict[str, list[str]], values: dict[str, Any]) -> None:
        self.macros, self.lists, self.values = macros, lists, values
        self.toks: list[tuple[str, str]] = []
        self.i = 0

    def run(self, condition: str) -> bool:
        saved = (self.toks, self.i)
        self.toks, self.i = tokenize(condition), 0
        result = self.or_expr()
        assert self.i == len(self.toks), f"trailing tokens in {condition!r}: {self.toks[self.i:]}"
        self.toks, self.i = saved
        return result

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.i += 1
        return tok

    def or_expr(self) -> bool:
        result = self.and_expr()
        while self.peek() == ("kw", "or"):
            self.take()
            result = self.and_expr() or result
        return result

    def and_expr(self) -> bool:
        result = self.not_expr()
        while self.peek() == ("kw", "and"):
            self.take()
            result = self.not_expr() and result
        return result

    def not_expr(self) -> bool:
        if self.peek() == ("kw", "not"):
            self.take()
            return not self.not_expr()
        return self.check()

    def rhs(self) -> str | None:
        kind, value = self.take()
        if kind == "val":
            assert self.take()[0] == "lp"
            field = self.take()[1]
            assert self.take()[0] == "rp"
            got = self.values[field]
            return None if got is None else str(got)
        return value

    def check(self) -> bool:
        kind, value = self.take()
        if kind == "lp":
            result = self.or_expr()
            assert self.take()[0] == "rp"
            return result
        if kind == "word":
            return self.run(self.macros[value])
        assert kind == "field", f"unexpected {kind} {value!r}"
        present = self.values[value]
        op = self.take()
        assert op[0] == "op", f"expected an operator after {value}, got {op}"
        if op[1] == "exists":
            return present is not None
        if op[1] == "in":
            items = self.list_value()
            return present is not None and str(present) in items
        rhs = self.rhs()
        if present is None or rhs is None:
            return False
        text = str(present)
        if op[1] in ("<", "<=", ">", ">="):
            a, b = _num(text), _num(rhs)
            if a is None or b is None:
                return False
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op[1]]
        return {
            "=": text == rhs, "==": text == rhs, "!=": text != rhs, "contains": rhs in text,
            "icontains": rhs.lower() in text.lower(), "startswith": text.startswith(rhs),
            "endswith": text.endswith(rhs), "glob": fnmatch.fnmatchcase(text, rhs),
        }[op[1]]

    def list_value(self) -> list[str]:
        assert self.take()[0] == "lp"
        items: list[str] = []
        while True:
            kind, value = self.take()
            if kind == "rp":
                return items
            if kind == "comma":
                continue
            items += self.lists.get(value, [value]) if kind == "word" else [value]


def fields_of(conditions: list[str]) -> set[str]:
    """Every field the conditions read, val() arguments included."""
    return {v for c in conditions for k, v in tokenize(c) if k == "field"}
