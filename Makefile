# trackstack — `make help` lists the targets. Every target is what CI or the README runs.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# Each area's targets live in mk/<area>.mk (compose, load); this file has the core ones.
-include mk/*.mk

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Install Python deps (uv, locked) and the native stack's pieces (ES zip, Filebeat build)
	@command -v uv >/dev/null || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	uv sync --locked
	$(MAKE) install-compose-validator
	native/elasticsearch.sh fetch
	native/build-filebeat.sh >/dev/null

.PHONY: lint
lint: ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: test
test: lint ## Everything CI runs: lint, unit, server and end-to-end tests (starts the native stack)
	$(PY) -m pytest tests

.PHONY: native-up
native-up: ## Start the stack without Docker: Elasticsearch, setup, 2 services, Filebeat
	native/stack.sh up

.PHONY: native-down
native-down: ## Stop the native stack (data stays in .run/; `native/stack.sh reset` wipes it)
	native/stack.sh down

.PHONY: native-status
native-status: ## Which native pieces are running
	native/stack.sh status

.PHONY: serve
serve: ## Run the service alone in the foreground on 127.0.0.1:$(PORT) (gunicorn + gevent)
	PORT=$(PORT) $(VENV)/bin/gunicorn -c service/gunicorn.conf.py

.PHONY: bench
bench: ## Overhead: formatter cost, /api/health req/s vs bare Flask and vs bare FastAPI / asgi-correlation-id (needs wrk)
	@command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 1; }
	$(PY) -m bench.formatters
	$(PY) -m bench.wsgi_overhead
	$(PY) -m bench.service_overhead
	$(PY) -m bench.asgi_inprocess
	$(PY) -m bench.asgi_overhead

.PHONY: bench-pipeline
bench-pipeline: ## Time-to-searchable: tuned vs default Filebeat, side by side (needs make native-up)
	$(PY) -m bench.time_to_searchable
