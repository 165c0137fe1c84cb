#!/usr/bin/env bash
# make mutation: mutation testing (mutmut 2.5.1) of the bridge's delivery path, in a copy of the
# repository under build/mutation (mutmut edits sources in place), each module against the tests
# that claim to cover it. Prints killed/survived per module and leaves the survivors' diffs in
# build/mutation/<module>.survivors.txt (<module>.after.survivors.txt with MUTATION_KEEP=1).
# Slow (minutes per module): not part of make test.
#   MUTATION_TARGETS="bridge/normalize/dedup.py ..."  which modules (default: the list below)
#   MUTATION_TESTS_EXTRA=0                              run without tests/regressions, tests/property
#                                                       (the score "before" those were written)
#   MUTATION_TESTS="a.py,b.py"                         these tests instead of the module's own list
#                                                       (a bounded run; commas or spaces)
#   MUTATION_KILLERS=0                                  leave out the tests written to kill survivors
#                                                       (tests/*/test_*_mutants.py)
#   MUTATION_KEEP=1                                     keep build/mutation's copy and its mutmut cache:
#                                                       refresh bridge/ and tests/, so mutmut retests the
#                                                       mutants not yet killed and those of changed or
#                                                       moved lines (the score "after")
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
tools=build/tools-venv
[ -x $tools/bin/mutmut ] || { python3 -m venv $tools && $tools/bin/pip install -q "mutmut==2.5.1"; }
declare -A TESTS=(
  [bridge/normalize/dedup.py]="tests/normalize/test_dedup.py tests/cli/test_run_follow.py tests/cli/test_replay_sidecar.py"
  [bridge/deliver/checkpoints.py]="tests/deliver/test_checkpoints.py tests/deliver/test_journal.py tests/cli/test_run_follow.py"
  [bridge/deliver/journal.py]="tests/deliver/test_journal.py tests/regressions/test_run_dedup_checkpoints.py"
  [bridge/deliver/protocol.py]="tests/deliver/test_protocol.py"
  [bridge/normalize/envelopes.py]="tests/normalize/test_envelopes.py tests/normalize/test_logfile.py"
  [bridge/normalize/logfile.py]="tests/normalize/test_logfile.py"
  [bridge/intake/http.py]="tests/intake/test_http.py"
  [bridge/intake/server.py]="tests/intake/test_http_limits.py tests/intake/test_http_batch.py tests/intake/test_http.py"
  [bridge/intake/wire.py]="tests/intake/test_wire_props.py tests/intake/test_wire_chunk_lines.py"
  [bridge/normalize/notifications.py]="tests/sources/test_sqs.py"
  [bridge/normalize/stream.py]="tests/normalize/test_stream.py tests/deliver/test_packed.py"
  [bridge/normalize/quarantine.py]="tests/normalize/test_quarantine.py tests/deliver/test_packed.py"
  [bridge/intake/grpc.py]="tests/intake/test_grpc.py"
  [bridge/intake/tls.py]="tests/intake/test_grpc.py tests/cli/test_intake_tls.py"
  [bridge/deliver/packed.py]="tests/deliver/test_packed.py"
  [bridge/deliver/socket_client.py]="tests/deliver/test_socket_client.py tests/deliver/test_plugin_socket.py"
)
declare -A EXTRA=(
  [bridge/normalize/dedup.py]="tests/regressions/test_replay_dedup_quarantine.py"
  [bridge/deliver/checkpoints.py]="tests/regressions tests/faults/test_pipeline_faults.py"
  [bridge/deliver/protocol.py]="tests/property/test_protocol_props.py"
  [bridge/normalize/envelopes.py]="tests/property/test_logfile_props.py"
  [bridge/normalize/logfile.py]="tests/property/test_logfile_props.py"
  [bridge/intake/http.py]="tests/property/test_config_intake_props.py"
  [bridge/deliver/socket_client.py]="tests/property/test_protocol_props.py"
  [bridge/deliver/packed.py]="tests/regressions/test_event_time_range.py tests/fuzz_py/test_fuzz_corpus.py"
)
# Tests written to kill a module's survivors: part of the "after" run only.
declare -A MUTANTS=(
  [bridge/normalize/dedup.py]="tests/normalize/test_dedup_mutants.py"
  [bridge/normalize/notifications.py]="tests/normalize/test_notifications_mutants.py"
  [bridge/normalize/envelopes.py]="tests/normalize/test_envelopes_mutants.py"
  [bridge/normalize/stream.py]="tests/normalize/test_stream_mutants.py"
  [bridge/normalize/logfile.py]="tests/normalize/test_logfile_mutants.py"
  [bridge/normalize/quarantine.py]="tests/normalize/test_quarantine_mutants.py"
  [bridge/intake/grpc.py]="tests/intake/test_grpc_mutants.py tests/intake/test_grpc_stream_mutants.py"
  [bridge/intake/wire.py]="tests/intake/test_wire_mutants.py"
  [bridge/intake/tls.py]="tests/intake/test_grpc_mutants.py"
  [bridge/deliver/packed.py]="tests/deliver/test_packed_mutants.py"
  [bridge/deliver/checkpoints.py]="tests/deliver/test_checkpoints_mutants.py"
  [bridge/deliver/journal.py]="tests/deliver/test_journal_mutants.py"
  [bridge/deliver/socket_client.py]="tests/deliver/test_socket_client_mutants.py"
  [bridge/intake/http.py]="tests/intake/test_http_mutants.py"
  [bridge/intake/server.py]="tests/intake/test_server_mutants.py tests/intake/test_http_mutants.py"
)
targets=${MUTATION_TARGETS:-"bridge/normalize/dedup.py bridge/normalize/notifications.py bridge/normalize/envelopes.py
  bridge/normalize/stream.py bridge/normalize/logfile.py bridge/normalize/quarantine.py bridge/intake/grpc.py
  bridge/intake/tls.py bridge/intake/wire.py bridge/intake/http.py bridge/intake/server.py bridge/deliver/packed.py
  bridge/deliver/protocol.py bridge/deliver/checkpoints.py bridge/deliver/journal.py
  bridge/deliver/socket_client.py"}
work=build/mutation
mkdir -p $work
printf '%-36s %7s %7s %9s %8s %10s %6s\n' module mutants killed survived timeout suspicious score
for t in $targets; do
    tag=$(echo "$t" | tr '/.' '__')$([ "${MUTATION_TESTS_EXTRA:-1}" = 1 ] || echo -before)
    src=$work/src-$tag
    [ "${MUTATION_KEEP:-0}" = 1 ] || rm -f "$work/$tag.log"
    if [ "${MUTATION_KEEP:-0}" = 1 ] && [ -f "$src/.mutmut-cache" ]; then
        rm -rf "$src/tests" "$src/bridge" && cp -r tests bridge "$src"/
    else
        rm -rf "$src" && mkdir -p "$src"
        cp -r bridge tests bench rules falco_config samples proto pyproject.toml setup.py "$src"/
    fi
    tests="${MUTATION_TESTS:-${TESTS[$t]}}"
    tests="${tests//,/ }"
    [ "${MUTATION_TESTS_EXTRA:-1}" = 1 ] && tests="$tests ${EXTRA[$t]:-}"
    if [ "${MUTATION_KILLERS:-1}" = 1 ]; then
        # first: with -x, a mutant they kill costs their run only
        for m in ${MUTANTS[$t]:-}; do if [ -f "$m" ]; then tests="$m $tests"; fi; done
    fi
    # mutmut 2.5.1 counts only exit status 1 as a failing run: a mutant that breaks the import
    # (pytest's collection error, status 2) was recorded as a survivor. Any failure is 1 here.
    runner="env CTBRIDGE_PLUGIN=$root/build/plugin/libctbridge.so $root/.venv/bin/python -c 'import sys, pytest; sys.exit(0 if pytest.main(sys.argv[1:]) == 0 else 1)' -x -q -p no:cacheprovider -p no:randomly --timeout 120 $tests"
    # mutmut 2.5.1 sometimes loses its worker process and then waits forever, or crashes on its
    # own cache (4 times in 10 modules here, on 2 loaded cores); results are cached per mutant, so
    # kill it when no worker has been alive for 90 s and run it again: it resumes with the
    # mutants not yet tested.
    for attempt in 1 2 3 4 5 6; do
        [ -f "$src/$t.bak" ] && mv "$src/$t.bak" "$src/$t"  # a mutant left applied by a lost worker
        (cd "$src" && exec $root/$tools/bin/mutmut run --paths-to-mutate "$t" --runner "$runner" \
            --tests-dir tests --no-progress >> "$root/$work/$tag.log" 2>&1) &
        pid=$! idle=0
        while kill -0 $pid 2>/dev/null; do
            sleep 15
            if pgrep -P $pid -f spawn_main >/dev/null; then idle=0; else idle=$((idle + 1)); fi
            if [ $idle -ge 6 ]; then
                echo "mutmut lost its worker: restarting" >> "$root/$work/$tag.log"
                kill $pid 2>/dev/null || true
            fi
        done
        wait $pid 2>/dev/null || true
        # It can also crash on its own cache (a mutant row not found): go on while any is untested.
        left=$(cd "$src" && $root/$tools/bin/mutmut result-ids untested 2>/dev/null | wc -w)
        [ "$left" -eq 0 ] && break
        echo "mutmut stopped with $left mutants untested: again" >> "$root/$work/$tag.log"
    done
    out=$tag$([ "${MUTATION_KEEP:-0}${MUTATION_KILLERS:-1}" = 11 ] && echo .after || true)
    (cd "$src" && $root/$tools/bin/mutmut results > "$root/$work/$out.results.txt" 2>&1 || true)
    # Survivors' diffs, for the report: each is killed by a new test or argued equivalent.
    (cd "$src" && for id in $($root/$tools/bin/mutmut result-ids survived 2>/dev/null); do
        echo "--- mutant $id"; $root/$tools/bin/mutmut show "$id"; done > "$root/$work/$out.survivors.txt" 2>&1 || true)
    killed=$(cd "$src" && $root/$tools/bin/mutmut result-ids killed 2>/dev/null | wc -w)
    survived=$(cd "$src" && $root/$tools/bin/mutmut result-ids survived 2>/dev/null | wc -w)
    timeout=$(cd "$src" && $root/$tools/bin/mutmut result-ids timeout 2>/dev/null | wc -w)
    suspicious=$(cd "$src" && $root/$tools/bin/mutmut result-ids suspicious 2>/dev/null | wc -w)
    total=$((killed + survived + timeout + suspicious))
    # suspicious: killed, but slowly (mutmut's ok_suspicious)
    score=$(python3 -c "print(f'{100*($killed+$timeout+$suspicious)/max(1,$total):.0f}%')")
    printf '%-36s %7s %7s %9s %8s %10s %6s\n' "$t" "$total" "$killed" "$survived" "$timeout" "$suspicious" "$score"
done
