#!/usr/bin/env bash
# Installs the system packages the plugin build needs, only if something is missing.
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
[ -f /usr/include/rapidjson/reader.h ] || need+=(rapidjson-dev)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
ls /usr/lib/*/libz.a >/dev/null 2>&1 || need+=(zlib1g-dev)
ls /usr/lib/*/libdeflate.a >/dev/null 2>&1 || need+=(libdeflate-dev)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v apt-get >/dev/null; then
    echo "missing build packages: ${need[*]} (install them with your package manager)" >&2
    exit 1
fi
echo "installing build packages: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
