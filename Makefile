# Two commands matter: `make demo` (run the main job) and `make test` (run the tests).
# Both set up the virtual environment on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Test processes (pytest-xdist): the suite takes ~11 min with two here, ~22 min with one.
TEST_WORKERS ?= 2

.PHONY: demo test lint typecheck bench bench-worker services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Import the bundled Shopify example into the embedded SQLite store and print the summary.
demo: $(STAMP)
	$(BIN)/customer-sync import csv examples/shopify-customers.csv
	$(BIN)/customer-sync customers get --email person1@example.com

## Lint, type-check and run the whole test suite against real PostgreSQL, Redis and SQLite.
test: $(STAMP) services lint typecheck
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15

services:
	@scripts/check-services

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

## The speed benchmark (bench/README.md): imports beside dlt and the COPY floor, then the API.
## `make bench BENCH_ARGS="--rows 20000"` for a shorter run.
bench: $(STAMP) services
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)

## One Celery worker process against two on a 200,000-row CSV fanned out into chunks.
bench-worker: $(STAMP) services
	$(BIN)/python -m bench.worker_fanout

clean:
	rm -rf $(VENV) customer_sync.db customer_sync.db-*
