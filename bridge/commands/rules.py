"""ctbridge rules: test rules in a real Falco, lint them, migrate old rules, map coverage."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge.commands._shared import default_plugin, default_rules

HELP = "test, lint, migrate and map the coverage of Falco rules for CloudTrail"
DESCRIPTION = """\
Tools for the rules in rules/ (or your own):

  test      run every test case (rules/tests/*.yaml) in ONE real Falco process and report passes,
            failures and rules without a positive or a negative case
  lint      check rules without Falco (schema, fields, macros, lists, outputs, priorities, tags),
            then `falco -V` every file when a Falco is found
  migrate   convert rules written for the legacy JSON source (jevt.value) or for the official
            cloudtrail + json plugins (json.value) into rules for the ctbridge plugin
  coverage  MITRE ATT&CK and Stratus Red Team coverage as Markdown, SVG and PNG

examples:
  ctbridge rules test
  ctbridge rules lint --no-falco
  ctbridge rules migrate old_rules.yaml -o rules/zz_migrated.yaml
  ctbridge rules coverage --out-dir docs/
"""


def add_arguments(r: argparse.ArgumentParser) -> None:
    sub = r.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    t = sub.add_parser("test", help="run the rule test cases in a real Falco")
    t.add_argument("--rules", action="append", metavar="FILE_OR_DIR", help="rules (default: the bundled rules/)")
    t.add_argument("--cases", action="append", metavar="FILE_OR_DIR", help="test cases (default: <rules>/tests/)")
    t.add_argument("--identities", metavar="FILE", help="identities for cases (default: <cases dir>/identities.yaml)")
    t.add_argument("--only", metavar="TEXT", help="run only cases whose name contains TEXT")
    t.add_argument("--workdir", metavar="DIR", help="keep the records, config and alerts here")
    _common(t)
    lint = sub.add_parser("lint", help="check rules files without (and then with) Falco")
    lint.add_argument("paths", nargs="*", metavar="FILE_OR_DIR", help="rules (default: the bundled rules/)")
    lint.add_argument("--no-falco", action="store_true", help="skip the `falco -V` step")
    lint.add_argument("--no-mitre", action="store_true", help="do not require MITRE ATT&CK tags")
    _common(lint)
    m = sub.add_parser("migrate", help="convert jevt.value / json.value CloudTrail rules for ctbridge")
    m.add_argument("path", metavar="FILE", help="rules file to convert ('-' for stdin)")
    m.add_argument("-o", "--output", metavar="FILE", help="where to write (default: stdout)")
    c = sub.add_parser("coverage", help="ATT&CK and Stratus Red Team coverage tables and matrix pictures")
    c.add_argument("--rules", action="append", metavar="FILE_OR_DIR", help="rules (default: the bundled rules/)")
    c.add_argument("--cases", action="append", metavar="FILE_OR_DIR", help="test cases (default: <rules>/tests/)")
    c.add_argument("--out-dir", default="docs", metavar="DIR", help="where coverage.md/.svg/.png go (default: docs)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", metavar="SO", help="libctbridge.so (default: $CTBRIDGE_PLUGIN or build/plugin/)")
    p.add_argument("--falco-binary", metavar="PATH", help="Falco to run (default: $FALCO_BINARY, `falco` on PATH, Docker)")
    p.add_argument("--falco-image", default="falcosecurity/falco:0.45.0", metavar="IMAGE",
                   help="image when Falco runs in Docker")


def _cases_paths(args: argparse.Namespace, rules: list[str]) -> list[Path]:
    if args.cases:
        roots = [Path(c) for c in args.cases]
    else:
        roots = [Path(r) / "tests" for r in rules if Path(r).is_dir()]
    out: list[Path] = []
    for root in roots:
        if root.is_dir():
            out += sorted(p for p in root.glob("*.yaml") if p.name != "identities.yaml")
        elif root.is_file():
            out.append(root)
    return out


def run(args: argparse.Namespace) -> int:
    action = args.rules_command
    if action == "test":
        return _test(args)
    if action == "lint":
        return _lint(args)
    if action == "migrate":
        return _migrate(args)
    return _coverage(args)


def _test(args: argparse.Namespace) -> int:
    from bridge.rulestool.cases import load_cases, load_identities
    from bridge.rulestool.falcorun import falco_target
    from bridge.rulestool.ruleset import rules_files
    from bridge.rulestool.testrun import run_tests

    rules = args.rules or default_rules()
    case_files = _cases_paths(args, rules)
    ident_path = Path(args.identities) if args.identities else (
        case_files[0].parent / "identities.yaml" if case_files else Path("identities.yaml"))
    cases = load_cases(case_files, load_identities(ident_path))
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    target = falco_target(args.falco_binary, args.falco_image)
    report = run_tests(target, args.plugin or default_plugin(), rules_files(rules), cases,
                       Path(args.workdir) if args.workdir else None)
    if args.only:  # a subset cannot prove every rule has cases
        report.untested_positive, report.untested_negative = [], []
    print(report.text())
    return 0 if report.ok else 1


def _lint(args: argparse.Namespace) -> int:
    from bridge.errors import FalcoNotFound
    from bridge.rulestool.falcorun import falco_target, validate
    from bridge.rulestool.fieldtable import plugin_fields
    from bridge.rulestool.lint import lint_files
    from bridge.rulestool.ruleset import rules_files

    files = rules_files(args.paths or default_rules())
    plugin = args.plugin or default_plugin()
    rep = lint_files(files, set(plugin_fields(plugin)), require_mitre=not args.no_mitre)
    for w in rep.warnings:
        print(f"warning: {w}")
    for e in rep.errors:
        print(f"error: {e}")
    print(f"{rep.files} files, {rep.rules} rules: {len(rep.errors)} errors, {len(rep.warnings)} warnings")
    if not rep.ok:
        return 1
    if args.no_falco:
        return 0
    try:
        target = falco_target(args.falco_binary, args.falco_image)
    except FalcoNotFound:
        print("no Falco found (FALCO_BINARY, `falco` on PATH, Docker): `falco -V` skipped")
        return 0
    import tempfile

    common = [f for f in files if f.name.startswith("00_")]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="ctbridge-lint-") as tmp:
        for f in files:
            # each file with the shared lists and macros it builds on (00_*.yaml)
            group = [*[c for c in common if c != f], f]
            ok, text = validate(target, plugin, [str(g) for g in group], Path(tmp))
            print(f"falco -V {f.name}: {'ok' if ok else 'FAILED'}")
            if not ok:
                failed += 1
                print(text[-3000:], file=sys.stderr)
    return 1 if failed else 0


def _migrate(args: argparse.Namespace) -> int:
    from bridge.rulestool.migrate import migrate_text

    text = sys.stdin.read() if args.path == "-" else Path(args.path).read_text()
    result = migrate_text(text)
    for note in result.notes:
        print(f"migrate: {note}", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(result.text)
    else:
        sys.stdout.write(result.text)
    return 1 if result.errors else 0


def _coverage(args: argparse.Namespace) -> int:
    from bridge.rulestool.cases import load_cases, load_identities
    from bridge.rulestool.coverage import write_coverage
    from bridge.rulestool.ruleset import RuleSet, rules_files

    rules = args.rules or default_rules()
    case_files = _cases_paths(args, rules)
    ident = case_files[0].parent / "identities.yaml" if case_files else Path("identities.yaml")
    cases = load_cases(case_files, load_identities(ident))
    written = write_coverage(RuleSet.load(rules_files(rules)), cases, Path(args.out_dir))
    for p in written:
        print(p)
    return 0
