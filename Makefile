# Everything a person does with Rebound. `make run` and `make test` work on a fresh machine with
# Python 3.11+ and make: they create .venv and install what they need first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
STAGE ?= dev
SCAN_VENV := $(VENV)/scan

.PHONY: run test faults lint typecheck format check-python browser bench bench-quick package scan clean

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Rebound needs Python 3.11+ (found %s); set PYTHON=python3.11" % sys.version.split()[0])'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml | check-python
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt -e .
	@touch $(STAMP)

run: $(STAMP)  ## the local stack in the foreground
	$(BIN)/rebound local

test: $(STAMP) lint typecheck browser  ## lint, types and the whole test suite
	$(BIN)/pytest

# `make test` runs these too. The matrix table for docs/operations.md: python -m tests.faults.matrix
faults: $(STAMP)  ## the fault matrix and the hostile-input fuzz: every promise under faults
	$(BIN)/pytest tests/faults -q -s -p no:cacheprovider

# The browser tests drive Debian's chromium through playwright (its own browser download is not used).
# Root installs directly (CI); anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:  ## Debian's chromium, when it is not there yet
	@command -v chromium >/dev/null || test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

bench: $(STAMP)  ## every benchmark against its baseline: a table and bench/results.json
	$(BIN)/python -m bench

bench-quick: $(STAMP)  ## the same at small sizes, a smoke run
	$(BIN)/python -m bench --quick --out build/bench-quick.json

# The bundle is for the template's runtime (python3.13) on ARCH (arm64 unless ARCH=x86_64), built
# from any local Python 3.11+; the first build downloads the wheels (cached after that).
package: $(STAMP)  ## the deployment bundle and CloudFormation template for STAGE (dev|prod)
	$(BIN)/python infra/package.py --stage $(STAGE) $(if $(ARCH),--arch $(ARCH)) --out build

# checkov lives in its own venv: its pins clash with the project's.
scan: $(STAMP) package  ## checkov over the packaged template (package already ran cfn-lint)
	@test -x $(SCAN_VENV)/bin/checkov || { $(PYTHON) -m venv $(SCAN_VENV) && $(SCAN_VENV)/bin/pip install -q --disable-pip-version-check checkov==3.3.30; }
	$(SCAN_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f infra/template.yaml -f build/sam.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)  ## mypy over chalicelib/ (settings in pyproject.toml)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .hypothesis
