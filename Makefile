# The README's two commands are `make demo` and `make test`; everything else is a step of theirs.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
BUILD := build
PLUGIN := $(BUILD)/plugin/libctbridge.so

.PHONY: all deps venv plugin proto demo test bench docs clean fuzz fuzz-py sanitize mutation supply-chain \
	rules-test rules-lint coverage

all: plugin venv

# System packages for the plugin build (Debian/Ubuntu); skipped when already present.
deps:
	@./scripts/deps.sh

# setup.py builds bridge.deliver._fastpack (optional C, bridge/deliver/packed.py) when Python's
# headers and a compiler are there: python3-dev is installed when they are missing (libdeflate-dev,
# which it links statically, comes with `deps`); without them the package is pure Python.
$(VPY): pyproject.toml setup.py bridge/deliver/_fastpack.c | deps
	@$(PY) -c 'import os, sysconfig; assert os.path.exists(sysconfig.get_paths()["include"] + "/Python.h")' 2>/dev/null \
		|| ! command -v apt-get >/dev/null \
		|| { sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); $$sudo apt-get update -qq \
			&& DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq python3-dev >/dev/null || true; }
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[test]'
	@touch $(VPY)

venv: $(VPY)

plugin: deps
	cmake -S plugin -B $(BUILD)/plugin -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD)/plugin -j2

proto: $(VPY)
	$(VPY) -m bridge.intake.gen_proto

docs: plugin
	$(VPY) plugin/gen_fields_doc.py $(PLUGIN) > docs/fields.md

# Detection content (docs/rules.md): every rule's cases in one real Falco; lint; the coverage matrix.
rules-test: plugin venv
	$(VENV)/bin/ctbridge rules test --plugin $(PLUGIN)

rules-lint: plugin venv
	$(VENV)/bin/ctbridge rules lint --plugin $(PLUGIN)

coverage: venv
	$(VENV)/bin/ctbridge rules coverage

# Replays the bundled seed scenario through the plugin in a real Falco and prints the alerts.
demo: plugin venv
	$(VENV)/bin/ctbridge replay samples/seed --plugin $(PLUGIN)

test: plugin venv
	cd $(BUILD)/plugin && ctest --output-on-failure
	$(VPY) -m mypy bridge
	$(VPY) -m pytest tests

# Every benchmark beside its same-run baseline (bench/run_all.py): bench/out/*.json, docs/benchmarks.md
# and docs/benchmarks.png. End-to-end steps need Falco ($$FALCO_BINARY or `falco` on PATH).
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--count 50000 --big-mb 0 --only baselines,falco".
bench: plugin venv
	@$(VPY) -c 'import matplotlib' 2>/dev/null || $(VPY) -m pip install -q -e '.[bench]'
	$(VPY) bench/run_all.py $(BENCH_ARGS)

# Hardening (docs/reliability.md). fuzz: each libFuzzer target for FUZZ_SECONDS (default 20) from
# tests/data/fuzz; sanitize: ASan+UBSan plugin under ctest, the C-ABI and socket tests, and a
# valgrind leak check over a long replay. Both install clang-14 from apt when it is missing.
fuzz: deps
	plugin/fuzz/run.sh

# The bridge's parsers (log files, the stream splitter against the fast split, SQS bodies, ingest
# frames, config files, alert bodies) under atheris, FUZZ_SECONDS each (tests/fuzz_py/README.md).
fuzz-py: venv
	@$(VPY) -c 'import atheris' 2>/dev/null || $(VPY) -m pip install -q -e '.[fuzz]'
	tests/fuzz_py/run.sh

sanitize: plugin venv
	plugin/fuzz/sanitize.sh

# Mutation testing of the bridge's delivery and normalization (slow; not part of make test).
mutation: venv
	bench/mutation/run.sh

# The image's Python dependencies: hash-pinned lock installs cleanly, pip-audit, CycloneDX SBOM
# (build/sbom.cdx.json). Needs network access to PyPI (and its vulnerability data).
supply-chain:
	deploy/supply-chain.sh

clean:
	rm -rf $(BUILD)
