# Load, verify, trace (README: "Load, verify, trace"). Each target is one `python -m loadgen`
# subcommand; LOADGEN lets compose run the same subcommands in its loadgen container.
# Settings come from the environment: SERVICE_URL, ES_URL, KIBANA_URL, RUNS_DIR, DEBUG_LOG_TOKEN.
# WORKERS=N: Locust distributed, a master and N worker processes here; REMOTE_WORKERS=M more
# from other machines (`make load-worker MASTER=<this host>` there; README "Scaling out").
RATE ?= 20
DURATION ?= 30
WORKERS ?= 0
REMOTE_WORKERS ?= 0
# ENTRIES="health names": only those rows of the traffic mix (README, "The traffic mix")
ENTRIES ?=
LOADGEN ?= $(PY) -m loadgen

.PHONY: load
load: ## Synthetic traffic, RATE req/s for DURATION s (20, 30), WORKERS Locust workers (0), ENTRIES="health names" (all rows, space-separated); writes runs/<UTC time>/
	$(LOADGEN) load --rate $(RATE) --duration $(DURATION) --workers $(WORKERS) --remote-workers $(REMOTE_WORKERS) $(if $(ENTRIES),--entries $(ENTRIES))

.PHONY: load-ui
load-ui: ## The same traffic from Locust's web UI on http://127.0.0.1:8089 (Ctrl-C ends the run)
	$(LOADGEN) load --ui --rate $(RATE) --workers $(WORKERS) --remote-workers $(REMOTE_WORKERS) $(if $(ENTRIES),--entries $(ENTRIES))

.PHONY: load-worker
load-worker: ## One more Locust worker, on another machine, for a master: make load-worker MASTER=<host>
	@[[ -n "$${MASTER-}" ]] || { echo "usage: make load-worker MASTER=<host of make load>" >&2; exit 2; }
	$(LOADGEN) load-worker --master "$$MASTER"

.PHONY: verify
verify: ## Find every tracking ID of the latest run (or RUN=runs/<time> or RUN=<time>) in Elasticsearch
	$(LOADGEN) verify $(RUN)

.PHONY: trace
trace: ## One request across services: prints its lines, writes .run/timelines/<ID>.html: make trace ID=<tracking ID>
	@[[ -n "$${ID-}" ]] || { echo "usage: make trace ID=<tracking ID>" >&2; exit 2; }
	@$(LOADGEN) trace "$$ID"

# make trace's timeline page is tested in a real browser: Debian's chromium, driven by
# Playwright (tests/browser.py), which then never downloads a browser of its own.
.PHONY: install-chromium
install-chromium: ## Debian's chromium, the headless browser the timeline tests use
	@if command -v chromium >/dev/null; then \
		echo "chromium present: $$(chromium --version 2>/dev/null)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y -qq chromium >/dev/null || \
			{ apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; \
		echo "installed $$(chromium --version 2>/dev/null)"; \
	else \
		echo "WARNING: chromium missing and cannot apt-get it here (needs root on Debian);" \
			"tests/server/test_timeline_browser.py will fail until it is installed" >&2; \
	fi
