# One command to set up and run, one to test. Python 3.11+ and a network that reaches PyPI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench eval

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

## Set everything up, build the index on first run, start the main job.
run: $(STAMP)
	$(BIN)/episode-assistant ui

## The whole test suite, as CI runs it.
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check assistant evals benchmarks tests && $(BIN)/ruff format --check assistant evals benchmarks tests

bench: $(STAMP)
	$(BIN)/episode-assistant bench
