# The two commands a newcomer needs: `make run` and `make test`.
# Both build .venv from the pinned constraints.txt first; nothing else is assumed.
# `make run` installs the runtime dependencies only; `make test` adds the test tools.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-stamp
TEST_STAMP    := $(VENV)/.test-stamp
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt
PYTEST_WORKERS ?= auto

.PHONY: install run test lint typecheck bench clean

$(RUNTIME_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	touch $(RUNTIME_STAMP)

$(TEST_STAMP): $(RUNTIME_STAMP)
	$(PIP) -e '.[test]'
	touch $(TEST_STAMP)

install: $(RUNTIME_STAMP)

## run: the service on the embedded SQLite store (./var/ledger.db) at http://127.0.0.1:8000
run: $(RUNTIME_STAMP)
	$(BIN)/ledger migrate
	$(BIN)/ledger apikey bootstrap
	$(BIN)/ledger up

## test: lint, type-check and the whole suite (SQLite and PostgreSQL)
test: $(TEST_STAMP) lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

## bench: throughput and latency against baselines measured in the same run (see bench/)
bench: $(TEST_STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
