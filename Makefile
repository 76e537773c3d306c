# Everything a person does with Rebound. `make run` and `make test` work on a fresh machine with
# Python 3.11+ and make: they create .venv and install what they need first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint format check-python package clean

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Rebound needs Python 3.11+ (found %s); set PYTHON=python3.11" % sys.version.split()[0])'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml | check-python
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt -e .
	@touch $(STAMP)

run: $(STAMP)  ## the local stack in the foreground
	$(BIN)/rebound local

test: $(STAMP) lint  ## lint and the whole test suite
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .hypothesis
