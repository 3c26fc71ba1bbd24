# The quick start is `make demo` and `make test`; both install into .venv first.
# `make demo` installs only what running followup needs (the runtime, Polars the bulk of it);
# `make test`, `make lint`, `make bench` and `make install` add the dev tools and the Ray extra.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --no-compile
# One stamp per install: the runtime's is also touched by the full install, so `make test` then
# `make demo` installs nothing, and `make demo` then `make test` adds only the extras.
RUNTIME_STAMP := $(VENV)/.installed-runtime
FULL_STAMP    := $(VENV)/.installed-dev

.PHONY: install runtime demo test lint fmt bench bench-buckets clean

install: $(FULL_STAMP)

runtime: $(RUNTIME_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install only when the project's metadata changes, so repeated runs are quick.
$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

$(FULL_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev,ray]'
	touch $@ $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/followup reconcile --data sample_data --as-of 2024-07-31

test: $(FULL_STAMP)
	$(BIN)/python -m pytest -q

lint: $(FULL_STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

fmt: $(FULL_STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

bench: $(FULL_STAMP)
	$(BIN)/python tests/bench/run_bench.py

# Customer buckets (SPEC 10) at 10,000,000 customers: one pass, --buckets 16 and the Ray engine.
bench-buckets: $(FULL_STAMP)
	$(BIN)/python tests/bench/run_bench.py --buckets 16 --customers 10000000 --runs 1 --ray

clean:
	rm -rf $(VENV) bench-data .pytest_cache .mypy_cache .ruff_cache
