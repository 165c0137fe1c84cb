#!/usr/bin/env bash
# Builds the plugin and the native driver, generates records once, and runs the benchmark.
#   bench/run_plugin_bench.sh            # 200000 records
#   N=500000 bench/run_plugin_bench.sh   # more; PLUGIN=path/to/libctbridge.so to skip the build
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${N:-200000}"
OUT="$ROOT/build/bench"
DATA="$OUT/records-$N"
PY="${PY:-python3}"
mkdir -p "$OUT"

if [ -z "${PLUGIN:-}" ]; then
    cmake -S "$ROOT/plugin" -B "$ROOT/build/plugin" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$ROOT/build/plugin" -j2 >/dev/null
    PLUGIN="$ROOT/build/plugin/libctbridge.so"
fi

# Same flags as the plugin: -O2, C++17, rapidjson from /usr/include.
g++ -std=c++17 -O2 -c "$ROOT/bench/parse_baseline.cpp" -o "$OUT/parse_baseline.o"
gcc -std=c11 -O2 -Wall -c "$ROOT/bench/plugin_driver.c" -o "$OUT/plugin_driver.o"
g++ -o "$OUT/plugin_driver" "$OUT/plugin_driver.o" "$OUT/parse_baseline.o" -ldl

if [ ! -d "$DATA" ]; then
    "$PY" "$ROOT/bench/gen_records.py" --count "$N" --out "$DATA.tmp"
    mv "$DATA.tmp" "$DATA"
fi

"$OUT/plugin_driver" "$PLUGIN" "$DATA" "${MAX_BATCH:-512}"
