PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: set up, load the demo season into ./data if it is empty, and show it
run: $(STAMP)
	$(BIN)/dossierflow demo --if-empty
	$(BIN)/dossierflow status

## test: set up and run the whole suite, then lint and type-check
test: $(STAMP)
	$(BIN)/pytest
	$(BIN)/ruff check domain workflow projections web tests bench
	$(BIN)/mypy

## bench: the issue-5 figures and a season of 5,000 units, on SQLite and PostgreSQL (BENCH_FLAGS=--quick for a first look)
bench: $(STAMP)
	$(BIN)/python bench/issue5_figures.py $(BENCH_FLAGS)
	$(BIN)/python bench/season.py $(BENCH_FLAGS)

clean-data:
	rm -rf data/*.sqlite*
