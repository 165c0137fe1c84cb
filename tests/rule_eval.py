"""A small evaluator for the subset of Falco's condition language our rules use.

It stands in for Falco's rule engine (libsinsp filters) where no Falco is available: rule tests
and the CLI sidecar test evaluate the real rules files on field values from the real plugin.
The real engine runs the same rules on the same records in tests/integration/test_replay_falco.py.
"""

from __future__ import annotations

import re
from typing import Any

TOKEN = re.compile(
    r"""\s*(?:
      (?P<lp>\() | (?P<rp>\)) | (?P<comma>,)
    | (?P<op>==|=|!=|contains(?=\s)|startswith(?=\s)|endswith(?=\s)|exists\b|in(?=[\s(]))
    | (?P<kw>and|or|not)(?=[\s(])
    | (?P<field>[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+)(?:\[(?P<arg>[^\]"'\s]+)\])?
    | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<word>[^()"'\s=,]+)
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
        rhs = self.take()[1]
        if present is None:
            return False
        text = str(present)
        return {
            "=": text == rhs, "==": text == rhs, "!=": text != rhs, "contains": rhs in text,
            "startswith": text.startswith(rhs), "endswith": text.endswith(rhs),
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
