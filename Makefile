# augrepro: `make demo` runs the whole chain on the embedded dataset; `make test` runs the tests.
# Both create the virtual environment .venv on first use (Python 3.11 and the package registries only).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Scripts that Snakemake starts must find the environment's python and snakemake first.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test lint venv dry-run-paper clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "augrepro needs Python 3.11 or newer: make PYTHON=python3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores all
	@echo "Open results/report/report.html"

test: $(STAMP)
	$(BIN)/python -m pytest

# Lint and format checks (configured in pyproject.toml); `ruff format . && snakefmt workflow` fixes the format.
# ruff's rules include McCabe complexity (at most 15 per function); mypy checks the library's types (src/augrepro,
# with the pinned mypy and stub packages), so that a None or a wrong type is caught before a run, not during one.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check workflow
	$(BIN)/snakemake --lint
	$(BIN)/snakemake --directory .test --lint
	$(BIN)/mypy

# What the cluster would run, without running it.
dry-run-paper: $(STAMP)
	$(BIN)/snakemake --profile slurm --dry-run --quiet rules

clean:
	rm -rf results .snakemake
