# The quick start is `make demo` and `make test`; both install into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint fmt bench bench-buckets clean

install: $(STAMP)

# Re-install only when the project's metadata changes, so repeated runs are quick.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

demo: install
	$(BIN)/followup reconcile --data sample_data --as-of 2024-07-31

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

bench: install
	$(BIN)/python tests/bench/run_bench.py

# Customer buckets (SPEC 10) at 10,000,000 customers: one pass, --buckets 16 and the Ray engine.
bench-buckets: install
	$(BIN)/python tests/bench/run_bench.py --buckets 16 --customers 10000000 --runs 1 --ray

clean:
	rm -rf $(VENV) bench-data .pytest_cache .mypy_cache .ruff_cache
