#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a bounded time
# from its seed corpus (tests/data/fuzz/<target>). A crash, leak, timeout or OOM fails the run and
# leaves the input in build/fuzz/artifacts/<target>/: fix the bug, then copy the input to
# tests/data/fuzz/<target>/regress-<what> so ctest replays it in every build from then on.
#   FUZZ_SECONDS  per target (default 20)     FUZZ_TARGETS  which ones (default: all)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-20}
cxx=$(command -v clang++-14 || command -v clang++ || true)
if [ -z "$cxx" ] || [ ! -f "$("$cxx" -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; then
    if command -v apt-get >/dev/null; then
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
        echo "installing clang-14 and libclang-rt-14-dev for libFuzzer"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null
        cxx=$(command -v clang++-14)
    else
        echo "make fuzz needs clang++ with libFuzzer (Debian: clang-14 libclang-rt-14-dev)" >&2
        exit 1
    fi
fi
cc=${cxx/clang++/clang}
cmake -S plugin -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCTB_FUZZ=ON \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" >/dev/null
cmake --build build/fuzz --target fuzzers -j2 >/dev/null
targets=${FUZZ_TARGETS:-$(cd build/fuzz && ls fuzz_* | grep -v '\.' | sort)}
export CTB_FUZZ_TMP=$(mktemp -d)
trap 'rm -rf "$CTB_FUZZ_TMP"' EXIT
status=0
printf '%-20s %10s %8s %8s %s\n' target execs exec/s corpus result
for t in $targets; do
    work=build/fuzz/corpus/$t art=build/fuzz/artifacts/$t
    mkdir -p "$work" "$art"
    log=build/fuzz/$t.log
    # -timeout: one input may take at most 10 s (a hang is a finding too).
    if build/fuzz/$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$art/" "$work" "tests/data/fuzz/$t" >"$log" 2>&1; then
        result=ok
    else
        result="FAILED: see $log and $art/"
        status=1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    printf '%-20s %10s %8s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$(ls "$work" | wc -l)" "$result"
done
exit $status
