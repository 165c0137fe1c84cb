"""Runs one target of targets.py under atheris (coverage-guided, libFuzzer's engine):

    .venv/bin/python tests/fuzz_py/run_atheris.py TARGET [libFuzzer options]

The seed corpus is tests/fuzz_py/seeds/ (all targets share it: CloudTrail files, notifications,
frames, configs, alerts); new inputs go to build/fuzz_py/TARGET/. A crash is written as
crash-* in the working directory: copy it to tests/fuzz_py/crashes/TARGET/ and fix the code;
test_fuzz_corpus.py then replays it in every test run. `make fuzz-py` runs every target.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

with atheris.instrument_imports(include=["bridge"]):
    import fastpack_c
    import targets

TARGETS = {**targets.TARGETS, **fastpack_c.TARGETS}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: run_atheris.py TARGET [libFuzzer options]; targets: {', '.join(TARGETS)}")
    name = sys.argv.pop(1)
    target = TARGETS[name]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
