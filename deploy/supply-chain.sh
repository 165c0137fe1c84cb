#!/usr/bin/env bash
# make supply-chain: the image's Python dependencies, checked.
#  1. deploy/requirements.lock (pip-compile --generate-hashes from pyproject.toml) installs with
#     --require-hashes into a clean venv, as the image does, together with the bridge's wheel;
#  2. pip-audit --strict over the lock (needs the PyPI JSON API or OSV: a package it cannot audit
#     fails the step, as does a finding, unless
#     listed with a reason in deploy/pip-audit-ignore.txt, one "ID  # reason" per line); when it
#     cannot run, deploy/audit_lock.py checks the lock against PyPI's JSON vulnerabilities and,
#     with ADVISORY_DB=DIR, that copy of pypa/advisory-database;
#  3. a CycloneDX 1.6 SBOM of that environment: build/sbom.cdx.json.
# Refresh the lock after changing dependencies: LOCK_REFRESH=1 make supply-chain.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=build/tools-venv
[ -x $tools/bin/pip-audit ] && [ -x $tools/bin/cyclonedx-py ] && [ -x $tools/bin/pip-compile ] || {
    python3 -m venv $tools
    $tools/bin/pip install -q "pip-tools>=7.4" "pip-audit>=2.7" "cyclonedx-bom>=4.0"
}
if [ "${LOCK_REFRESH:-0}" = 1 ]; then
    $tools/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
        --no-emit-find-links --output-file deploy/requirements.lock pyproject.toml
    $tools/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
        --no-emit-find-links --output-file deploy/sbom-tool.lock deploy/sbom-tool.in
fi
rm -rf build/image-venv
python3 -m venv build/image-venv
build/image-venv/bin/pip install -q --require-hashes --no-deps -r deploy/requirements.lock
build/image-venv/bin/pip install -q --no-deps .
build/image-venv/bin/pip check
ignores=()
if [ -f deploy/pip-audit-ignore.txt ]; then
    while read -r id _; do [ -n "$id" ] && [ "${id:0:1}" != "#" ] && ignores+=(--ignore-vuln "$id"); done \
        < deploy/pip-audit-ignore.txt
fi
if $tools/bin/pip-audit -r deploy/requirements.lock --require-hashes --disable-pip --strict --progress-spinner off \
        "${ignores[@]}"; then
    echo "pip-audit: no known vulnerability"
else
    # pip-audit could not run (or found something): PyPI's JSON vulnerabilities (current, for
    # pins that are the latest release or whose per-version document is served) and, with
    # ADVISORY_DB, a local copy of pypa/advisory-database for the rest (deploy/supply-chain.md).
    echo "pip-audit failed: checking the lock with deploy/audit_lock.py instead" >&2
    $tools/bin/python -c 'import packaging, yaml' 2>/dev/null || $tools/bin/pip install -q "packaging>=23" "pyyaml>=6"
    $tools/bin/python deploy/audit_lock.py --pypi "${PYPI_URL:-https://pypi.org}" \
        ${ADVISORY_DB:+--db "$ADVISORY_DB"} || audit_failed=1
fi
$tools/bin/cyclonedx-py environment --output-format JSON --output-file build/sbom.cdx.json build/image-venv/bin/python
echo "SBOM: build/sbom.cdx.json ($(python3 -c 'import json;print(len(json.load(open("build/sbom.cdx.json"))["components"]))') components)"
exit ${audit_failed:-0}
