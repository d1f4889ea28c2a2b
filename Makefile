# Stance: `make` lists the targets. Every target uses the project's own .venv.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STANCE := $(BIN)/stance
MODEL_DIR ?= artifacts
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
DATA := data/statements.csv data/test.csv data/news_test.csv
# The gazetteer is code too: its names are masked before the vectorizer.
CODE := $(wildcard model/*.py training/*.py) model/actors.csv
export STANCE_MODEL_DIR := $(MODEL_DIR)
# Values from the command line are taken as written ($(value): make expands nothing in them, not
# even $(shell ...)), reach the recipes as environment variables and are used only as "$$VAR":
# written into a recipe as $(VAR), quotes, backticks or $(...) in them would run.
USER_VALUES := IN OUT COLUMN TEXT VERSION
$(foreach name,$(USER_VALUES),$(eval override $(name) := $$(value $(name))))
export $(USER_VALUES)

.PHONY: help install browser train evaluate serve score predict models promote rollback test bench wrk lint clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed $(VENV)/.compiled ## Create .venv and install Stance with its test tools

# `make serve` and `make test` started together on a fresh clone would both build .venv: the
# lock makes the second wait for the first, then find .venv built (newer than what it is built
# from). setup.py compiles the C parts (model/_kernel.c, service/_records.c) where there is a
# compiler.
INSTALLED_FROM := pyproject.toml setup.py model/_kernel.c service/_records.c
$(VENV)/.installed: $(INSTALLED_FROM)
	@mkdir -p $(VENV)
	@flock $(VENV)/.install.lock $(SHELL) -ec '\
	  if [ -z "$$(find $(INSTALLED_FROM) -newer $@ 2>/dev/null)" ] && [ -e $@ ]; then \
	    echo ".venv was built meanwhile"; exit 0; fi; \
	  set -x; \
	  $(PYTHON) -m venv $(VENV); \
	  $(BIN)/pip install --quiet --upgrade pip; \
	  $(BIN)/pip install --quiet -e ".[test]"; \
	  touch $@'

# The bytecode pip writes for an installed package's modules and not for an editable one's,
# written again when a module changes: where PYTHONDONTWRITEBYTECODE is set, every start compiled
# them again (50 of a `stance score` start-up's 320 ms).
PACKAGES := model service training
$(VENV)/.compiled: $(shell find $(PACKAGES) -name '*.py') $(VENV)/.installed
	$(BIN)/python -m compileall -q $(PACKAGES)
	@touch $@

train: $(MODEL_DIR)/CURRENT ## Train the model if the data or the model code changed

# A file target: nothing to do when neither the data nor the code changed since the last model.
# WITH_FEEDBACK=1 adds the users' corrections (and retrains when they change).
FEEDBACK_DB ?= feedback.sqlite3
$(MODEL_DIR)/CURRENT: $(DATA) $(CODE) $(if $(WITH_FEEDBACK),$(FEEDBACK_DB)) | $(VENV)/.installed
	$(STANCE) train $(if $(WITH_FEEDBACK),--with-feedback --feedback-db $(FEEDBACK_DB))

evaluate: train ## Print and save the metrics on data/test.csv (reports/<version>/)
	$(STANCE) evaluate

# Every other gunicorn setting (threaded workers, JSON logs, metrics folder) is in service/server.py.
serve: train $(VENV)/.compiled ## Serve the API with gunicorn on HOST:PORT (default 127.0.0.1:8000), WORKERS workers
	$(STANCE) serve --host "$(HOST)" --port "$(PORT)" --workers "$(WORKERS)"

score: train $(VENV)/.compiled ## Score a file (CSV, .jsonl, .parquet): make score IN=in.csv OUT=out.csv [COLUMN=text]
	@test -n "$$IN" -a -n "$$OUT" || { echo "usage: make score IN=file.csv OUT=scored.csv"; exit 2; }
	$(STANCE) score "$$IN" -o "$$OUT" --text-column "$${COLUMN:-text}"

predict: train $(VENV)/.compiled ## Label one statement: make predict TEXT="We remain open to dialogue."
	@test -n "$$TEXT" || { echo 'usage: make predict TEXT="a statement"'; exit 2; }
	$(STANCE) predict "$$TEXT"

models: $(VENV)/.installed ## List the stored model versions and their scores; * is current
	$(STANCE) models

promote: $(VENV)/.installed ## Make a stored version current: make promote VERSION=20261128-...
	@test -n "$$VERSION" || { echo "usage: make promote VERSION=<version from make models>"; exit 2; }
	$(STANCE) promote "$$VERSION"

rollback: $(VENV)/.installed ## Make the previously current version current again
	$(STANCE) rollback

# Every tier under tests/ (code, data, model, service, cli); one tier: .venv/bin/pytest tests/model
test: $(VENV)/.installed browser ## Run the whole test suite (it trains its own model in a temp folder)
	$(BIN)/pytest

# The browser tests drive Debian's Chromium. As root on Debian (CI) it is installed when missing;
# elsewhere the browser tests skip without it (and fail under CI=1, which must run them).
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	fi

bench: train $(VENV)/.compiled ## Measure batch throughput and memory against the read-only floor, and latency
	@command -v wrk >/dev/null || $(MAKE) --no-print-directory wrk
	$(BIN)/python studies/benchmark.py

# The HTTP rows of the benchmark need wrk: Debian's package when we are root, else say so.
wrk:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && apt-get install -y -qq wrk; \
	else \
	  echo "make bench needs wrk for its HTTP rows: run 'sudo apt-get install wrk' (Debian, Ubuntu) or install it from https://github.com/wg/wrk" >&2; exit 1; \
	fi

lint: $(VENV)/.installed ## Check the code with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean: ## Remove .venv, the compiled C parts, trained models and reports
	rm -rf $(VENV) model/_kernel.*.so service/_records.*.so build $(MODEL_DIR) reports *.egg-info .pytest_cache .ruff_cache
