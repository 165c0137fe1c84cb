#!/usr/bin/env bash
# Leak check over a long replay: valgrind --leak-check=full on the release build's corpus
# replayers, fed a generated CloudTrail log (every tests/data/records record, repeated to
# LEAK_RECORDS records) as plain JSON, JSON lines, gzip and damaged gzip, then every record
# through every field extractor. Fails on any definite or indirect leak or memory error.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${LEAK_RECORDS:-20000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/files" "$dir/records"
python3 - "$dir" "$n" <<'PY'
import gzip, json, struct, sys
from pathlib import Path
out, n = Path(sys.argv[1]), int(sys.argv[2])
recs = [p.read_bytes().strip() for p in sorted(Path("tests/data/records").glob("*.json"))]
recs = [r for r in recs if r.startswith(b"{")]
body = [recs[i % len(recs)] for i in range(n)]
log = b'{"Records":[' + b",".join(body) + b"]}"
lines = b"\n".join(body) + b"\n"
head = lambda kind: bytes([kind, 2, 7]) + struct.pack("<H", 5)
(out / "files" / "log").write_bytes(head(0) + log)
(out / "files" / "lines").write_bytes(head(1) + lines)
(out / "files" / "log_gz").write_bytes(head(2) + log)
(out / "files" / "damaged_gz").write_bytes(head(4) + log)
for i, r in enumerate(recs):
    (out / "records" / f"r{i}").write_bytes(b"\x01" + struct.pack("<Q", 1) + b"/userIdentity\0" + r)
PY
vg="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1"
$vg build/plugin/replay_fuzz_file_source "$dir/files"
$vg build/plugin/replay_fuzz_extract "$dir/records" tests/data/fuzz/fuzz_extract
$vg build/plugin/replay_fuzz_socket_source tests/data/fuzz/fuzz_socket_source
echo "leak check: $n records per file x 4 files, $(ls "$dir/records" | wc -l) records x every field: no leak"
