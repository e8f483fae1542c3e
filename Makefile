# Self-documenting: `make help`.
.DEFAULT_GOAL := help
SCALE ?= small
VENV := .venv/bin
# two workers (pytest-xdist): the suite's builds and browsers use both cores
PYTEST_DEFAULT := -m "not province and not bench and not spark" -p no:cacheprovider -n 2

.PHONY: help setup build test test-slow test-spark test-province bench lint lab clean golden

help: ## Show the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install Debian packages and the locked Python environment
	@bash scripts/setup.sh

build: setup ## Set up, then run the annual report build (SCALE=small by default)
	$(VENV)/analysis build --scale $(SCALE)

test: setup ## Run the test suite (what CI runs)
	$(VENV)/pytest $(PYTEST_DEFAULT)

test-spark: setup ## Spark engine integration tests (Java + pyspark, local mode)
	$(VENV)/pytest -m spark

test-province: setup ## Provincial-scale tests (minutes, several GiB)
	$(VENV)/pytest -m province -s

bench: setup ## Benchmarks at every scale; prints tables, writes reports/bench/
	$(VENV)/pytest -m bench -s

lint: setup ## ruff + mypy
	$(VENV)/ruff check src tests && $(VENV)/ruff format --check src tests && $(VENV)/mypy

lab: setup ## Open the notebooks in JupyterLab
	$(VENV)/jupyter lab notebooks/

clean: ## Remove generated data and reports
	rm -rf data/synthetic/*/ data/synthetic/.state reports/*/ reports/*.html reports/*.json

golden: setup ## Accept the current outputs as the golden copies (tests/golden; review the diff)
	UPDATE_GOLDEN=1 $(VENV)/pytest tests/test_golden.py -p no:cacheprovider -q
