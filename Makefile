# pdflow's set-up and everyday jobs. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help install install-test browser run test test-fast lint bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/pdflow: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,spark,server]'
	@touch $@

install: $(BIN)/pdflow ## Create .venv and install pdflow with its test tools

browser: ## Install Debian's chromium for the UI test (needs apt-get and root)
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "no /usr/bin/chromium and no root apt-get: the UI test will be skipped"; fi

run: install ## Train, register and promote a PD model on the shipped German credit data
	@# Exit 3 means trained and registered, but kept out of Production by the gate.
	$(BIN)/pdflow train --data german --promote || [ $$? -eq 3 ]

test: install browser ## Lint, then run the whole test suite
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/pytest -q

test-fast: install ## Run the tests that start no server or browser
	$(BIN)/pytest -q -m "not slow"

lint: install ## ruff check and format check
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: install ## Benchmarks: against the tutorial script, quality, scoring speed
	$(BIN)/python benchmarks/train_vs_tutorial.py
	$(BIN)/python benchmarks/quality.py
	$(BIN)/python benchmarks/scoring.py

clean: ## Remove the local store, artifacts and caches
	rm -rf mlflow.db mlflow.db.lock mlruns mlartifacts .pytest_cache
