# The two commands a newcomer needs: `make run` and `make test`.
# Both build .venv from the pinned constraints.txt first; nothing else is assumed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= auto

.PHONY: install run test lint typecheck bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## run: the service on the embedded SQLite store (./var/ledger.db) at http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/ledger migrate
	$(BIN)/ledger apikey bootstrap
	$(BIN)/ledger up

## test: lint, type-check and the whole suite (SQLite and PostgreSQL)
test: lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: throughput and latency against baselines measured in the same run (see bench/)
bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
