#!/usr/bin/env bash
# make sanitize: the plugin and its native tests built with AddressSanitizer + UBSan (any UB is
# fatal; LeakSanitizer on for the native tests), then
#   - ctest: the native tests and the fuzz corpora replays, with leak checking at exit;
#   - the C-ABI tests (tests/plugin) and the socket tests (tests/deliver/test_plugin_socket.py)
#     through ctypes against the sanitized .so, with the ASan runtime preloaded into Python
#     (leak checking off there: CPython itself does not free everything at exit);
#   - valgrind --leak-check=full over a long replay of the release build (when valgrind exists).
# Uses clang++ when present (the same compiler as make fuzz), else g++.
set -euo pipefail
cd "$(dirname "$0")/../.."
cxx=$(command -v clang++-14 || command -v clang++ || command -v g++)
case "$cxx" in
    *clang*) rt=$("$cxx" -print-file-name=libclang_rt.asan-x86_64.so); cc=${cxx/clang++/clang} ;;
    *) rt=$("$cxx" -print-file-name=libasan.so); cc=${cxx/g++/gcc} ;;
esac
cmake -S plugin -B build/sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCTB_SANITIZE=ON \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" >/dev/null
cmake --build build/sanitize -j2 >/dev/null
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# test_json_diff is left out: its reference (rapidjson's SSE2 in situ reader, which the plugin no
# longer uses) reads aligned 16-byte blocks past the end of its buffer. fuzz_json_diff covers the
# comparison under ASan on rapidjson's byte-wise path.
(cd build/sanitize && ctest --output-on-failure -E '^test_json_diff$')
# test_needs_only_glibc is left out: a sanitized .so links libstdc++ dynamically by design.
LD_PRELOAD="$rt" ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 CTBRIDGE_PLUGIN=build/sanitize/libctbridge.so \
    .venv/bin/python -m pytest -q -p no:cacheprovider tests/plugin tests/deliver/test_plugin_socket.py \
    --deselect tests/plugin/test_abi.py::test_needs_only_glibc
if command -v valgrind >/dev/null && [ -x build/plugin/replay_fuzz_file_source ]; then
    plugin/fuzz/leak_replay.sh
fi
