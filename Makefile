# Two commands on a fresh machine with Python 3.11 and make: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export RETRAIN_HOME ?= $(CURDIR)/.retrain
export DAGSTER_HOME ?= $(RETRAIN_HOME)/dagster

.PHONY: install demo demo-live test test-fast test-faults ui bench bench-serve bench-scale lint clean

# Installs the exact versions CI is tested with (constraints.txt) into .venv; re-runs only when they change.
$(BIN)/.installed: pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=python3"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,backtest]'
	touch $@

install: $(BIN)/.installed

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

# The main job: replay 60 days of both example models through the real sensors and automation.
demo: install
	$(BIN)/retrain demo --reset --days 60 --json $(RETRAIN_HOME)/demo-timeline.json

# The production half: live traffic, delayed labels, the live trigger, the swap and the alerts (about 2 minutes).
demo-live: install
	$(BIN)/retrain demo-live --reset --json $(RETRAIN_HOME)/demo-live.json

# The whole suite, slow and service-backed tests included (this is what CI runs).
test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-fast: install
	$(BIN)/python -m pytest -n 2 -m "not slow and not daemon"

# The fault suite alone (also part of `make test`): prints "faults: N tried, N recovered without a person".
test-faults: install
	$(BIN)/python -m pytest -n 2 --dist loadfile -m faults

# The Dagster UI (and daemon) on the demo's state, on 127.0.0.1 only.
ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# Both benchmarks print measured ratios against a baseline run in the same process (no timed asserts).
bench: install
	$(BIN)/python -m retrain_platform_tests.benchmarks.drift_benchmark
	$(BIN)/python -m retrain_platform_tests.benchmarks.gate_benchmark

# `retrain serve` against `mlflow models serve` on the same champion: throughput, p50/p99, alias moves, log loss.
bench-serve: install
	$(BIN)/python -m retrain_platform_tests.benchmarks.serve_benchmark

# 1, 10 and 50 models, each in a fresh process: definitions load, automation evaluation, peak RSS, a replayed day,
# a 30-day backfill, with growth ratios and the issue's targets (about 5 minutes; ARGS=--daemon adds latencies).
bench-scale: install
	$(BIN)/python -m retrain_platform_tests.benchmarks.scale_benchmark $(ARGS)

lint: install
	$(BIN)/ruff check retrain_platform retrain_platform_tests

clean:
	rm -rf $(RETRAIN_HOME)
