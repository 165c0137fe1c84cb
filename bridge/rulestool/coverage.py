"""`ctbridge rules coverage`: which ATT&CK and Stratus Red Team techniques the rules cover, as
Markdown, SVG and PNG. ATT&CK coverage comes from the rules' tags (mitre_*, T####); Stratus
coverage from the test cases that replay each technique's CloudTrail records (`stratus:`) and the
rules they expect, which `ctbridge rules test` proves in a real Falco."""

from __future__ import annotations

import re
from collections import defaultdict
from html import escape
from pathlib import Path

from bridge.rulestool.cases import Case
from bridge.rulestool.catalog import STRATUS, TACTICS, TECHNIQUES
from bridge.rulestool.png import CHAR_W, Canvas
from bridge.rulestool.ruleset import RuleSet

TECHNIQUE_TAG = re.compile(r"^T\d{4}(\.\d{3})?$")
COL_W, CELL_H, HEAD_H, TOP, PAD = 178, 30, 26, 46, 4
SHADES = [(1, "#cfe8e4", (207, 232, 228)), (2, "#8cc9bf", (140, 201, 191)), (4, "#3f9c8f", (63, 156, 143)),
          (8, "#1f6f65", (31, 111, 101))]


def technique_rules(rs: RuleSet) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for r in rs.rules:
        if r.enabled:
            for t in r.tags:
                if TECHNIQUE_TAG.match(t):
                    out[t].append(r.name)
    return dict(out)


def stratus_coverage(cases: list[Case]) -> dict[str, tuple[set[str], list[str]]]:
    """Stratus id -> (rules its cases expect, names of those cases)."""
    out: dict[str, tuple[set[str], list[str]]] = {}
    for c in cases:
        for sid in c.stratus:
            rules, names = out.setdefault(sid, (set(), []))
            rules |= c.expect
            names.append(f"{c.file}: {c.name}")
    return out


def matrix(rs: RuleSet) -> dict[str, list[tuple[str, int]]]:
    """Tactic -> [(technique, number of rules)], techniques placed under their ATT&CK tactics."""
    cols: dict[str, list[tuple[str, int]]] = {t: [] for t, _ in TACTICS}
    for tech, rules in sorted(technique_rules(rs).items()):
        for tactic in TECHNIQUES.get(tech, ("?", ("defense_evasion",)))[1]:
            cols[tactic].append((tech, len(rules)))
    return cols


def _shade(n: int) -> tuple[str, tuple[int, int, int]]:
    pick = SHADES[0]
    for s in SHADES:
        if n >= s[0]:
            pick = s
    return pick[1], pick[2]


def _label(tech: str, width_chars: int) -> str:
    name = TECHNIQUES.get(tech, (tech, ()))[0].split(": ")[-1]
    return name if len(name) <= width_chars else name[: width_chars - 1] + "."


def _size(cols: dict[str, list[tuple[str, int]]]) -> tuple[int, int]:
    rows = max(len(v) for v in cols.values())
    return COL_W * len(TACTICS) + PAD, TOP + HEAD_H + rows * (CELL_H + PAD) + 40


def write_svg(cols: dict[str, list[tuple[str, int]]], title: str, path: Path) -> None:
    w, h = _size(cols)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">'),
           f'<rect width="{w}" height="{h}" fill="#ffffff"/>',
           f'<text x="{PAD}" y="24" font-size="16" font-weight="bold" fill="#222">{escape(title)}</text>']
    for i, (tactic, display) in enumerate(TACTICS):
        x = i * COL_W + PAD
        out.append(f'<rect x="{x}" y="{TOP}" width="{COL_W - PAD}" height="{HEAD_H - 4}" fill="#264653" rx="3"/>')
        out.append(f'<text x="{x + 6}" y="{TOP + 15}" font-size="11" font-weight="bold" fill="#fff">'
                   f'{escape(display)} ({len(cols[tactic])})</text>')
        for j, (tech, n) in enumerate(cols[tactic]):
            y = TOP + HEAD_H + j * (CELL_H + PAD)
            color, _ = _shade(n)
            ink = "#fff" if n >= 4 else "#123"
            out.append(f'<rect x="{x}" y="{y}" width="{COL_W - PAD}" height="{CELL_H}" fill="{color}" rx="3">'
                       f'<title>{escape(tech)} {escape(TECHNIQUES.get(tech, (tech, ()))[0])}: {n} rules</title></rect>')
            out.append(f'<text x="{x + 5}" y="{y + 12}" font-size="10" font-weight="bold" fill="{ink}">'
                       f'{escape(tech)} ({n})</text>')
            out.append(f'<text x="{x + 5}" y="{y + 25}" font-size="9" fill="{ink}">{escape(_label(tech, 32))}</text>')
    ly = h - 22
    for k, (n, color, _) in enumerate(SHADES):
        out.append(f'<rect x="{PAD + k * 120}" y="{ly}" width="14" height="14" fill="{color}"/>')
        out.append(f'<text x="{PAD + k * 120 + 20}" y="{ly + 11}" font-size="10" fill="#222">{n}+ rules</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def write_png(cols: dict[str, list[tuple[str, int]]], title: str, path: Path) -> None:
    w, h = _size(cols)
    c = Canvas(w, h)
    c.text(PAD, 8, title, (34, 34, 34), scale=2)
    chars = (COL_W - PAD - 8) // CHAR_W
    for i, (tactic, display) in enumerate(TACTICS):
        x = i * COL_W + PAD
        c.rect(x, TOP, COL_W - PAD, HEAD_H - 4, (38, 70, 83))
        c.text(x + 5, TOP + 7, f"{display} ({len(cols[tactic])})"[:chars], (255, 255, 255))
        for j, (tech, n) in enumerate(cols[tactic]):
            y = TOP + HEAD_H + j * (CELL_H + PAD)
            _, rgb = _shade(n)
            ink = (255, 255, 255) if n >= 4 else (17, 34, 51)
            c.rect(x, y, COL_W - PAD, CELL_H, rgb)
            c.text(x + 5, y + 5, f"{tech} ({n})", ink)
            c.text(x + 5, y + 17, _label(tech, chars), ink)
    ly = h - 22
    for k, (n, _, rgb) in enumerate(SHADES):
        c.rect(PAD + k * 120, ly, 14, 14, rgb)
        c.text(PAD + k * 120 + 20, ly + 4, f"{n}+ rules", (34, 34, 34))
    c.save(path)


def markdown(rs: RuleSet, cases: list[Case]) -> str:
    enabled = [r for r in rs.rules if r.enabled]
    tech = technique_rules(rs)
    strat = stratus_coverage(cases)
    covered = [s for s, _ in STRATUS if strat.get(s, (set(), []))[0]]
    lines = [
        "# Detection coverage",
        "",
        "Generated by `ctbridge rules coverage` from the rules' tags and the rule test cases",
        "(rules/tests/). Every Stratus row is a test case that replays the CloudTrail records the",
        "technique's detonation writes; `ctbridge rules test` runs them all in a real Falco and fails",
        "when a listed rule does not fire (or another one does).",
        "",
        f"- rules: {len(enabled)} enabled ({len(rs.rules)} in all)",
        f"- MITRE ATT&CK techniques tagged: {len(tech)}",
        f"- Stratus Red Team AWS techniques that raise an alert: {len(covered)} of {len(STRATUS)}",
        "",
        "![ATT&CK coverage](coverage.svg)",
        "",
        "## Stratus Red Team (AWS)",
        "",
        "| technique | name | rules that fire | test case |",
        "|---|---|---|---|",
    ]
    for sid, name in STRATUS:
        rules, names = strat.get(sid, (set(), []))
        lines.append(f"| `{sid}` | {name} | {', '.join(sorted(rules)) or '**none**'} | {'; '.join(names) or '-'} |")
    lines += ["", "## MITRE ATT&CK", "", "| tactic | technique | name | rules |", "|---|---|---|---|"]
    cols = matrix(rs)
    for tactic, display in TACTICS:
        for t, _ in cols[tactic]:
            lines.append(f"| {display} | {t} | {TECHNIQUES.get(t, (t, ()))[0]} | {', '.join(sorted(tech[t]))} |")
    return "\n".join(lines) + "\n"


def write_coverage(rs: RuleSet, cases: list[Case], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    cols = matrix(rs)
    strat = stratus_coverage(cases)
    n_strat = sum(1 for s, _ in STRATUS if strat.get(s, (set(), []))[0])
    title = (f"ctbridge rules: {sum(1 for r in rs.rules if r.enabled)} rules, {len(technique_rules(rs))} ATT&CK "
             f"techniques, Stratus Red Team AWS {n_strat}/{len(STRATUS)}")
    md, svg, png = out_dir / "coverage.md", out_dir / "coverage.svg", out_dir / "coverage.png"
    md.write_text(markdown(rs, cases))
    write_svg(cols, title, svg)
    write_png(cols, title, png)
    return [md, svg, png]
