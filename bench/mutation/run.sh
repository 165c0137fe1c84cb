#!/usr/bin/env bash
# make mutation: mutation testing (mutmut 2.5.1) of the bridge's delivery path, in a copy of the
# repository under build/mutation (mutmut edits sources in place), each module against the tests
# that claim to cover it. Prints killed/survived per module and leaves the survivors' diffs in
# build/mutation/<module>.survivors.txt. Slow (minutes per module): not part of make test.
#   MUTATION_TARGETS="bridge/normalize/dedup.py ..."  which modules (default: the list below)
#   MUTATION_TESTS_EXTRA=0                              run without tests/regressions, tests/property
#                                                       (the score "before" those were written)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
tools=build/tools-venv
[ -x $tools/bin/mutmut ] || { python3 -m venv $tools && $tools/bin/pip install -q "mutmut==2.5.1"; }
declare -A TESTS=(
  [bridge/normalize/dedup.py]="tests/normalize/test_dedup.py tests/cli/test_run_follow.py tests/cli/test_replay_sidecar.py"
  [bridge/follow.py]="tests/cli/test_run_follow.py"
  [bridge/deliver/checkpoints.py]="tests/deliver/test_checkpoints.py tests/cli/test_run_follow.py"
  [bridge/deliver/protocol.py]="tests/deliver/test_protocol.py"
  [bridge/normalize/envelopes.py]="tests/normalize/test_envelopes.py tests/normalize/test_logfile.py"
  [bridge/normalize/logfile.py]="tests/normalize/test_logfile.py"
  [bridge/intake/http.py]="tests/intake/test_http.py"
)
declare -A EXTRA=(
  [bridge/normalize/dedup.py]="tests/regressions"
  [bridge/follow.py]="tests/regressions tests/faults/test_pipeline_faults.py"
  [bridge/deliver/checkpoints.py]="tests/regressions tests/faults/test_pipeline_faults.py"
  [bridge/deliver/protocol.py]="tests/property/test_protocol_props.py"
  [bridge/normalize/envelopes.py]="tests/property/test_logfile_props.py"
  [bridge/normalize/logfile.py]="tests/property/test_logfile_props.py"
  [bridge/intake/http.py]="tests/property/test_config_intake_props.py"
)
targets=${MUTATION_TARGETS:-"bridge/normalize/dedup.py bridge/follow.py bridge/deliver/checkpoints.py bridge/deliver/protocol.py bridge/normalize/envelopes.py"}
work=build/mutation
mkdir -p $work
printf '%-32s %7s %7s %9s %8s %6s\n' module mutants killed survived timeout score
for t in $targets; do
    tag=$(echo "$t" | tr '/.' '__')$([ "${MUTATION_TESTS_EXTRA:-1}" = 1 ] || echo -before)
    src=$work/src-$tag
    rm -rf "$src" && mkdir -p "$src"
    cp -r bridge tests rules falco_config samples proto pyproject.toml setup.py "$src"/
    tests="${TESTS[$t]}"
    [ "${MUTATION_TESTS_EXTRA:-1}" = 1 ] && tests="$tests ${EXTRA[$t]}"
    runner="env CTBRIDGE_PLUGIN=$root/build/plugin/libctbridge.so $root/.venv/bin/python -m pytest -x -q -p no:cacheprovider -p no:randomly --timeout 120 $tests"
    (cd "$src" && $root/$tools/bin/mutmut run --paths-to-mutate "$t" --runner "$runner" \
        --tests-dir tests --no-progress >/dev/null 2>&1 || true)
    (cd "$src" && $root/$tools/bin/mutmut results > "$root/$work/$tag.results.txt" 2>&1 || true)
    # Survivors' diffs, for the report: each is killed by a new test or argued equivalent.
    (cd "$src" && for id in $($root/$tools/bin/mutmut result-ids survived 2>/dev/null); do
        echo "--- mutant $id"; $root/$tools/bin/mutmut show "$id"; done > "$root/$work/$tag.survivors.txt" 2>&1 || true)
    killed=$(cd "$src" && $root/$tools/bin/mutmut result-ids killed 2>/dev/null | wc -w)
    survived=$(cd "$src" && $root/$tools/bin/mutmut result-ids survived 2>/dev/null | wc -w)
    timeout=$(cd "$src" && $root/$tools/bin/mutmut result-ids timeout 2>/dev/null | wc -w)
    suspicious=$(cd "$src" && $root/$tools/bin/mutmut result-ids suspicious 2>/dev/null | wc -w)
    total=$((killed + survived + timeout + suspicious))
    score=$(python3 -c "print(f'{100*($killed+$timeout)/max(1,$total):.0f}%')")
    printf '%-32s %7s %7s %9s %8s %6s\n' "$t" "$total" "$killed" "$survived" "$timeout" "$score"
done
