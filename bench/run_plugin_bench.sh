#!/usr/bin/env bash
# Builds the plugin and the native driver, generates records once (gzipped CloudTrail log files,
# plus a plain .json copy), and runs the benchmark on both inputs, pinned to one core.
#   bench/run_plugin_bench.sh            # 200000 records, median of 3 runs, on CPU 1
#   N=500000 REPEAT=5 CPU=0 bench/run_plugin_bench.sh
#   PLUGIN=path/to/libctbridge.so bench/run_plugin_bench.sh   # skip the build
# Each measurement prints one line: events/s per CPU second, [wall], ratio to the same-run
# rapidjson-only baseline. For .json.gz input an inflate-only line (libdeflate) shows the ceiling that
# decompression alone sets on one core.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${N:-200000}"
REPEAT="${REPEAT:-3}"
CPU="${CPU:-1}"
OUT="$ROOT/build/bench"
DATA="$OUT/records-$N"
PLAIN="$OUT/records-$N-json"
PY="${PY:-python3}"
mkdir -p "$OUT"

if [ -z "${PLUGIN:-}" ]; then
    cmake -S "$ROOT/plugin" -B "$ROOT/build/plugin" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$ROOT/build/plugin" -j2 >/dev/null
    PLUGIN="$ROOT/build/plugin/libctbridge.so"
fi

# Same flags as the plugin: -O2, C++17, rapidjson from /usr/include; the same static zlib.
ZLIB_A="$(gcc -print-file-name=libz.a)"
DEFLATE_A="$(gcc -print-file-name=libdeflate.a)"
g++ -std=c++17 -O2 -c "$ROOT/bench/parse_baseline.cpp" -o "$OUT/parse_baseline.o"
gcc -std=c11 -O2 -Wall -c "$ROOT/bench/plugin_driver.c" -o "$OUT/plugin_driver.o"
g++ -o "$OUT/plugin_driver" "$OUT/plugin_driver.o" "$OUT/parse_baseline.o" -ldl "$DEFLATE_A" "$ZLIB_A"

if [ ! -d "$DATA" ]; then
    "$PY" "$ROOT/bench/gen_records.py" --count "$N" --out "$DATA.tmp"
    mv "$DATA.tmp" "$DATA"
fi
if [ ! -d "$PLAIN" ]; then
    mkdir -p "$PLAIN.tmp"
    for f in "$DATA"/*.json.gz; do gunzip -c "$f" > "$PLAIN.tmp/$(basename "$f" .gz)"; done
    mv "$PLAIN.tmp" "$PLAIN"
fi

PIN=()
if command -v taskset >/dev/null && taskset -c "$CPU" true 2>/dev/null; then PIN=(taskset -c "$CPU"); fi
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg); pinned: ${PIN[*]:-no}"
for input in "$PLAIN" "$DATA"; do
    "${PIN[@]}" "$OUT/plugin_driver" "$PLUGIN" "$input" "${MAX_BATCH:-512}" "$REPEAT"
done
