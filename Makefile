# trackstack — `make help` lists the targets. Every target is what CI or the README runs.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Install Python deps (uv, locked) and the native stack's pieces
	@command -v uv >/dev/null || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	uv sync --locked

.PHONY: lint
lint: ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: test
test: lint ## Everything CI runs: lint, unit tests, the real gunicorn server tests
	$(PY) -m pytest tests/unit tests/server

.PHONY: serve
serve: ## Run the service alone in the foreground on 127.0.0.1:$(PORT) (gunicorn + gevent)
	PORT=$(PORT) $(VENV)/bin/gunicorn -c service/gunicorn.conf.py

.PHONY: bench
bench: ## Service overhead: /api/health req/s vs bare Flask, side by side (needs wrk)
	@command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 1; }
	$(PY) -m bench.formatters
	$(PY) -m bench.service_overhead
