"""The plugin fields a Falco rules file set reads in its conditions (macros included), in order.

    python bench/rule_fields.py rules/*.yaml      # -> ct.name,ct.src,ctb.value[/a/b],...
Used by `make bench` to run bench/plugin_driver.c on the fields of the full rule set.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
FIELD = re.compile(r"\b((?:ct|s3|ec2|ecr|iam|ctb)\.[A-Za-z0-9_.]*[A-Za-z0-9_])(\[[^\]]*\])?")


def fields(paths: list[Path]) -> list[str]:
    seen: dict[str, None] = {}
    for p in paths:
        for item in yaml.safe_load(p.read_text()) or []:
            if isinstance(item, dict) and ("rule" in item or "macro" in item) and "condition" in item:
                cond = QUOTED.sub('""', str(item["condition"]))  # "ec2.amazonaws.com" is a value
                for m in FIELD.finditer(cond):
                    seen.setdefault(m.group(1) + (m.group(2) or ""), None)
    return list(seen)


if __name__ == "__main__":
    print(",".join(fields([Path(a) for a in sys.argv[1:]])))
