# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi

.PHONY: run test test-fast lint format bench wrk load cluster nginx clean

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

# The quick loop while developing (under a minute): SQLite only, no PostgreSQL or
# Redis, nothing that starts gunicorn or Chromium or spends seconds by design
# (fuzzing, timing statistics, migrations); the markers say which tests those are.
test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m "not slow and not postgres and not redis"

# Load and kill -9 crash scenarios against gunicorn, on SQLite and (with
# TEST_DATABASE_URL) PostgreSQL; `make test` runs them briefly as well.
LOAD_DURATION ?= 60
LOAD_CLIENTS ?= 32
LOAD_WORKERS ?= 4
load: $(VENV)/.installed-dev
	$(BIN)/python -m testing.load --duration $(LOAD_DURATION) --clients $(LOAD_CLIENTS) --workers $(LOAD_WORKERS)

# Three hosts in network namespaces behind nginx (deploy/nginx/authsvc.conf), on
# PostgreSQL and Redis (TEST_DATABASE_URL, TEST_REDIS_URL), with the example
# resource server and an SMTP server, under mixed load with kill -9 of a host,
# database and Redis outages and a key rotation; prints one table. Needs root.
# CLUSTER_KEYS_REFRESH is the hosts' KEYS_REFRESH_SECONDS. `make test` runs it briefly.
CLUSTER_DURATION ?= 60
CLUSTER_CLIENTS ?= 12
CLUSTER_KEYS_REFRESH ?= 30
cluster: $(VENV)/.installed-dev
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || $(MAKE) --no-print-directory nginx
	$(BIN)/python -m testing.cluster --duration $(CLUSTER_DURATION) --clients $(CLUSTER_CLIENTS) \
		--keys-refresh $(CLUSTER_KEYS_REFRESH)

# Throughput and latency against a bare-Flask baseline, with wrk (installed
# from Debian's packages when missing). BENCH_DATABASE_URL adds PostgreSQL;
# e.g. `make bench BENCH_ARGS="--runs 3"` (see `python -m bench --help`).
BENCH_ARGS ?=
bench: $(VENV)/.installed-dev
	@command -v wrk >/dev/null 2>&1 || $(MAKE) --no-print-directory wrk
	$(BIN)/python -m bench $(BENCH_ARGS)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
wrk:
	@echo "Installing wrk from Debian's packages (apt-get install wrk)"
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || \
	  ( $(SUDO) apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null )

nginx:
	@echo "Installing nginx from Debian's packages (apt-get install nginx)"
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null || \
	  ( $(SUDO) apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null )

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
