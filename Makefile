# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: run test lint format bench bench-smoke load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	mkdir -p instance
	$(BIN)/flask db upgrade
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# Browser screenshots and what the browser saw (report.json) land here.
ARTIFACTS := $(CURDIR)/test-artifacts

test: $(VENV)/.installed-dev
	@mkdir -p $(ARTIFACTS)
	@echo "Test artifacts (browser screenshots, report.json) go to $(ARTIFACTS)/browser"
	$(BIN)/python -m pytest

# Load and kill -9 crash scenarios against gunicorn, on SQLite and (with
# TEST_DATABASE_URL) PostgreSQL; `make test` runs them briefly as well.
LOAD_DURATION ?= 60
LOAD_CLIENTS ?= 32
LOAD_WORKERS ?= 4
load: $(VENV)/.installed-dev
	$(BIN)/python -m tests.load --duration $(LOAD_DURATION) --clients $(LOAD_CLIENTS) --workers $(LOAD_WORKERS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
