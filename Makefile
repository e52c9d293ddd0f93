# `make run` and `make test` do all set-up on a fresh machine: virtualenv, pinned install, then the job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

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

test: $(STAMP)
	$(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)
