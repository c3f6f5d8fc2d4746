PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean-data assets check-assets

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The sources' bytecode is compiled at install, as pip does for a package it installs (an editable install does not):
# where PYTHONDONTWRITEBYTECODE is set, every command would otherwise compile every module it imports, a fifth of
# the start-up of `dossierflow status`. Python checks each file's bytecode against its source, so an edited module
# is compiled afresh, never run stale.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q domain workflow projections web
	touch $(STAMP)

## run: set up, load the demo season into ./data if it is empty, print a sign-in per role, serve on http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/dossierflow demo --if-empty
	$(BIN)/dossierflow demo-sign-ins
	$(BIN)/dossierflow serve --host 127.0.0.1 --port 8000

## test: set up and run the whole suite, then lint and type-check
test: $(STAMP)
	$(BIN)/pytest
	$(BIN)/ruff check domain workflow projections web tests bench .ci
	$(BIN)/mypy

## bench: the issue-5 figures and a season of 5,000 units, on SQLite and PostgreSQL (BENCH_FLAGS=--quick for a first look)
bench: $(STAMP)
	$(BIN)/python bench/issue5_figures.py $(BENCH_FLAGS)
	$(BIN)/python bench/season.py $(BENCH_FLAGS)

## assets: install the locked npm packages (npm ci) and copy htmx into web/static/vendor, the copy that is committed
HTMX := web/static/vendor/htmx.min.js

assets:
	@command -v npm >/dev/null || { echo "make assets: npm (Node.js) is not installed; it is needed to fetch htmx.org" >&2; exit 1; }
	npm ci --no-audit --no-fund
	mkdir -p $(dir $(HTMX))
	cp node_modules/htmx.org/dist/htmx.min.js $(HTMX)

## check-assets: prove the committed htmx copy is byte for byte the file of the htmx.org package locked in package-lock.json
check-assets:
	$(PYTHON) .ci/check_assets.py

clean-data:
	rm -rf data/*.sqlite* data/evidence

## messages: extract the messages (babel.cfg) into web/locale/messages.pot, merge them into the vi, en and hi catalogs, and list what is left to translate (exit 1 while anything is)
.PHONY: messages
messages: $(STAMP)
	$(BIN)/python -m web.messages extract

.PHONY: bench-web

## bench-web: requests/s and latency of My work and approve under 50 clients (wrk, needs `apt-get install wrk`) against `dossierflow serve`, SQLite and PostgreSQL (BENCH_FLAGS=--quick for a first look)
bench-web: $(STAMP)
	$(BIN)/python bench/web_load.py $(BENCH_FLAGS)
