.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help run test test-all lint fmt bench i18n migrate system-deps

help:  ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "%-12s %s\n", $$1, $$2}'

# The venv rebuilds itself when requirements change.
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# Debian packages the tests need: Chromium (browser tests), Korean and emoji fonts (charts,
# PDFs, screenshots),
# Go and golang.org/x/mod (interoperability checks of the ledger formats).
DEBS := chromium fonts-nanum fonts-noto-color-emoji golang-go golang-golang-x-mod-dev
var/.system-deps: Makefile
	@mkdir -p var
	@if ! dpkg -s $(DEBS) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBS); \
	  else echo "note: install Debian packages $(DEBS) for the browser, font and Go tests"; fi; \
	fi
	@touch $@

system-deps: var/.system-deps  ## install the Debian packages the tests need (chromium, fonts-nanum, go)

run: $(VENV)/.installed  ## start everything on embedded defaults (sandbox when no token)
	$(PY) -m gateway migrate
	$(PY) -m gateway run

TEST_WORKERS ?= 2
test: $(VENV)/.installed var/.system-deps  ## the whole suite (integration tests too where services answer)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile  # a file runs in order in one process

test-all: test  ## same as test; integration tests run whenever PostgreSQL/Redis answer

lint: $(VENV)/.installed  ## ruff, mypy, import contracts
	$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy && $(VENV)/bin/lint-imports

fmt: $(VENV)/.installed  ## format the code
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

bench: $(VENV)/.installed  ## run every benchmark in bench/ (figures are ratios to in-run baselines)
	@set -e; for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b; done

i18n: $(VENV)/.installed  ## extract messages and check the catalogs
	$(PY) -m i18n check

migrate: $(VENV)/.installed  ## apply database migrations
	$(PY) -m gateway migrate
