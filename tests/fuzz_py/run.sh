#!/usr/bin/env bash
# Every target of tests/fuzz_py/targets.py (and fastpack_c.py's) under atheris for FUZZ_SECONDS (default 30), from the
# seed corpus; what each run learns stays in build/fuzz_py/TARGET. Exits 1 on the first crash,
# naming the input to copy into tests/fuzz_py/crashes/TARGET/ once fixed.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
secs=${FUZZ_SECONDS:-30}
out=build/fuzz_py
mkdir -p "$out"
targets=$("$PY" -c 'import sys; sys.path.insert(0, "tests/fuzz_py"); import targets, fastpack_c; print(" ".join({**targets.TARGETS, **fastpack_c.TARGETS}))')
for t in $targets; do
    mkdir -p "$out/$t"
    log="$out/$t.log"
    if ! (cd "$out" && "../../$PY" ../../tests/fuzz_py/run_atheris.py "$t" -max_total_time="$secs" -max_len=8192 \
            -rss_limit_mb=1024 -artifact_prefix="$t-" "$t" ../../tests/fuzz_py/seeds \
            $([ -d "../../tests/fuzz_py/seeds_$t" ] && echo "../../tests/fuzz_py/seeds_$t") >"$t.log" 2>&1); then
        echo "fuzz_py $t: FAILED; the input: $(ls -t "$out/$t-"* 2>/dev/null | head -1); log: $log" >&2
        grep -E "Error|assert" "$log" | head -5 >&2
        exit 1
    fi
    echo "fuzz_py $t: $(grep -E '^Done' "$log" | tail -1)"
done
