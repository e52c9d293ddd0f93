# `make run` and `make test` do all set-up on a fresh machine: virtualenv, pinned install, then the job.
# `make` alone lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Stage commands run `python ...`: the virtualenv's interpreter must come first on PATH (what
# `source .venv/bin/activate` does for commands typed by hand).
export PATH := $(CURDIR)/$(BIN):$(PATH)
# NannyML (reception monitor) sends usage telemetry unless this is set.
export NML_DISABLE_USAGE_LOGGING := 1

HOST ?= 127.0.0.1
PORT ?= 3000
CHROMIUM := /usr/bin/chromium

.DEFAULT_GOAL := help
.PHONY: help run run-corpus test test-unit test-data lint serve bench clean-venv

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Re-install only when the pins change. requirements.lock constrains the whole tree to the versions
# that were installed together and passed `pip check`.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip==26.3
	$(BIN)/python -m pip install -qq -c requirements.lock -e '.[test]'
	$(BIN)/python -m pip check
	touch $(STAMP)

# The two profiles (profiles/*.yaml, docs/params.md "Profiles") share one repository layout: `reception profile`
# writes the profile's values into params.yaml, then DVC brings every output (metrics/, the bento `make serve`
# serves) up to date with it. It refuses, leaving params.yaml as it is, when the profile's data is missing.
run: $(STAMP) ## Set up, then run the whole pipeline on the 15-thread sample (dvc repro)
	$(BIN)/reception profile sample
	$(BIN)/dvc repro

run-corpus: $(STAMP) ## The same on the corpus in ../shared/data/reddit-college (`make run` switches back)
	$(BIN)/reception profile corpus
	$(BIN)/dvc repro

# The UI test drives Debian's Chromium headless (no browser download: the machines are offline).
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: $(STAMP) $(CHROMIUM) ## Set up, then run the full test suite (what CI runs)
	$(BIN)/python -m pytest --durations=15

# The tiers, their durations and what each proves: docs/testing.md. One OpenMP thread: the unit tests'
# models are tiny, and on a busy 2-core machine two threads waiting for the cores made the tier 2.5 times slower.
test-unit: $(STAMP) ## Unit tier: no DVC run, no server (about a minute and a half)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m "not integration" --durations=5

test-data: $(STAMP) ## Middle tier: the data stages for real, no model stage (a few minutes)
	$(BIN)/python -m pytest -m data --durations=5

lint: $(STAMP) ## ruff over the code (settings in pyproject.toml)
	$(BIN)/ruff check .

serve: $(STAMP) ## Serve the bento the last `make run` or `make run-corpus` built (models/bento.json) on HOST:PORT
	@test -f models/bento.json || { echo "models/bento.json is missing: run 'make run' first"; exit 1; }
	$(BIN)/bentoml serve "$$($(BIN)/python -c 'import json; print(json.load(open("models/bento.json"))["bento"])')" \
		--host $(HOST) --port $(PORT)

bench: $(STAMP) ## Latency and throughput of the service against its peers (after `make run`)
	$(BIN)/python bench/serve_bench.py

clean-venv: ## Remove the virtualenv
	rm -rf $(VENV)
