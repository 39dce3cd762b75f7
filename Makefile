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
	@if [ -t 1 ]; then on=$$'\033[36m' off=$$'\033[0m'; else on= off=; fi; \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %s%-26s%s %s\n", on, $$1, off, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Install what the tests and the native stack need (each step says what and why)
	@echo "install: 1/6 uv $(UV_VERSION) (pip, only if missing) and the locked Python deps into .venv/ (service, loadgen, tests)"
	@command -v uv >/dev/null || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	uv sync --locked
	@echo "install: 2/6 Debian's docker-compose (apt, as root; only to validate docker-compose.yml in tests/unit/setup/test_compose.py)"
	$(MAKE) install-compose-validator
	@echo "install: 3/6 actionlint (pinned, into .cache/; make lint checks .github/workflows with it)"
	$(MAKE) install-actionlint
	@echo "install: 4/6 Elasticsearch $$(sed -n 's/^ELASTIC_VERSION=//p' .env) zip from Maven Central into .cache/ (the native stack's Elasticsearch)"
	native/elasticsearch.sh fetch
	@echo "install: 5/6 Filebeat and esfront built with Go into .cache/ (the native stack's shipper; a quarter of an hour the first time on 2 busy cores, then cached)"
	native/build-filebeat.sh >/dev/null
	@echo "install: 6/6 Debian's chromium (apt, as root; the headless browser the timeline tests open make trace's page in)"
	$(MAKE) install-chromium

.PHONY: lint
lint: $(ACTIONLINT) ## The pre-commit checks on every file: ruff, ruff format, mypy, shellcheck, actionlint, YAML/TOML
	PRE_COMMIT_HOME=.cache/pre-commit $(VENV)/bin/pre-commit run --all-files

.PHONY: unit
unit: ## Unit tests only (tests/unit, no servers, no stack): seconds to a couple of minutes
	$(PY) -m pytest -m unit -q

.PHONY: test
test: lint ## Everything CI runs: lint, unit, server and e2e tests (starts and stops the native stack; ~19 min here)
	$(PY) -m pytest tests --durations=20

.PHONY: native-up
native-up: ## Start the stack without Docker: Elasticsearch, setup, 2 services, Filebeat
	native/stack.sh up

.PHONY: native-down
native-down: ## Stop the native stack (data stays in .run/; `native/stack.sh reset` wipes it)
	native/stack.sh down

.PHONY: native-status
native-status: ## One line per native piece: name, state, pid, port (native/stack.sh status: exit 3 if one is stopped)
	@native/stack.sh status || { rc=$$?; [[ $$rc == 3 ]] || exit $$rc; echo "(not all running: make native-up starts what is stopped)"; }

.PHONY: serve
serve: ## Run the service alone in the foreground on 127.0.0.1:$(PORT) (gunicorn + gevent)
	@free=$$($(PY) -c "$$PORT_CHECK" $(PORT) 2>&1) || { echo "serve: 127.0.0.1:$(PORT) is taken (the native stack's service? make native-status): make serve PORT=$$free" >&2; exit 2; }
	PORT=$(PORT) $(PY) -m service

# Exits 0 when nothing listens on 127.0.0.1:<port>, else prints the first free port from port+10.
# A PORT that is not a port number (abc, 0, 99999) passes: the service names it (one JSON line, exit 1).
export PORT_CHECK := import socket, sys; taken = lambda p: socket.socket().connect_ex(("127.0.0.1", p)) == 0; arg = (sys.argv[1:] or [""])[0]; arg.isdigit() and 0 < int(arg) < 65536 or sys.exit(0); port = int(arg); taken(port) and sys.exit(next(str(p) for p in range(port + 10, port + 200) if not taken(p)))

.PHONY: bench
bench: ## Overhead: trackstack vs the article's design vs bare Flask (req/s and CPU per request), formatter cost, FastAPI apps, held debug on/off, the write lock, idle CPU (needs wrk)
	@command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 1; }
	$(PY) -m bench.service_overhead
	$(PY) -m bench.line_cost
	$(PY) -m bench.formatters
	$(PY) -m bench.wsgi_overhead
	$(PY) -m bench.asgi_inprocess
	$(PY) -m bench.asgi_overhead
	$(PY) -m bench.debug_overhead
	$(PY) -m bench.line_writes
	$(PY) -m bench.idle_cpu

.PHONY: bench-capacity
bench-capacity: ## Highest rate the native stack holds (0 lost/dup, searchable p95 <= 2 s), CPU per component, table + PNG (needs make native-up; ~13 min, 3 of them warm-up)
	$(PY) -m bench.capacity

.PHONY: bench-memory
bench-memory: ## RSS of each service worker after 1,000, 10,000 and 100,000 requests (needs wrk; ~3 min)
	$(PY) -m bench.memory

.PHONY: bench-entries
bench-entries: ## CPU µs per request of each row of the traffic mix, per component (needs make native-up; ~5 min)
	$(PY) -m bench.entry_cost

.PHONY: bench-refresh
bench-refresh: ## Time to searchable and Elasticsearch CPU per document at refresh 1s / 500ms / 250ms (needs make native-up)
	$(PY) -m bench.refresh

.PHONY: bench-pipeline
bench-pipeline: ## Time-to-searchable: tuned vs default Filebeat, side by side (needs make native-up)
	$(PY) -m bench.time_to_searchable
