# `make run` and `make test` do all set-up on a fresh machine: virtualenv, pinned install, then the job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Stage commands run `python ...`: the virtualenv's interpreter must come first on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

HOST ?= 127.0.0.1
PORT ?= 3000
CHROMIUM := /usr/bin/chromium

.PHONY: run test serve bench clean-venv

# Re-install only when the pins change. requirements.lock constrains the whole tree to the versions
# that were installed together and passed `pip check`.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip==26.3
	$(BIN)/python -m pip install -qq -c requirements.lock -e '.[test]'
	$(BIN)/python -m pip check
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/dvc repro

# The UI test drives Debian's Chromium headless (no browser download: the machines are offline).
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest

# Serves the bento that `make run` built from the locked champion (models/bento.json).
serve: $(STAMP)
	@test -f models/bento.json || { echo "models/bento.json is missing: run 'make run' first"; exit 1; }
	$(BIN)/bentoml serve "$$($(BIN)/python -c 'import json; print(json.load(open("models/bento.json"))["bento"])')" \
		--host $(HOST) --port $(PORT)

# Latency/throughput of the service against the seed's naive server (after `make run`); see README.
bench: $(STAMP)
	$(BIN)/python bench/serve_bench.py

clean-venv:
	rm -rf $(VENV)
