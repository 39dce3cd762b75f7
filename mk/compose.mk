# The Docker compose stack (docker-compose.yml). Plain `docker compose up` works on its own;
# these targets add waiting, the URLs and checks. The helpers in setup/compose.py need only
# python3, so they work before `make install`.
COMPOSE ?= docker compose
HOST_PYTHON ?= python3
export COMPOSE
# `docker compose` without Compose v2 says only "unknown shorthand flag: 'd' in -d".
NEED_COMPOSE = @$(COMPOSE) version >/dev/null 2>&1 || { echo "$@: \`$(COMPOSE) version\` failed: Docker Compose v2 is missing (make doctor says what to install; without Docker: make native-up)" >&2; exit 2; }

.PHONY: doctor
doctor: ## Pre-flight for Docker: engine, compose v2, memory, vm.max_map_count, disk, ports
	@$(HOST_PYTHON) -m setup.compose doctor

.PHONY: up
up: ## Start the compose stack, wait until it is healthy, print the URLs and the login
	$(NEED_COMPOSE)
	$(COMPOSE) up -d --build
	@$(HOST_PYTHON) -m setup.compose wait
	@$(HOST_PYTHON) -m setup.compose urls

.PHONY: down
down: ## Stop the compose stack (VOLUMES=1 also deletes its data: indices, Filebeat's registry)
	$(NEED_COMPOSE)
	$(COMPOSE) --profile load down --remove-orphans $(if $(VOLUMES),--volumes)

.PHONY: urls
urls: ## Where everything is in the stack that runs (compose: with the Kibana login; native; none)
	@$(HOST_PYTHON) -m setup.compose urls

.PHONY: logs
logs: ## Follow the compose stack's logs (one service: make logs SVC=kibana)
	$(NEED_COMPOSE)
	$(COMPOSE) logs -f --tail=100 $(SVC)

.PHONY: kibana
kibana: ## Print the Kibana Discover link of one request: make kibana ID=<tracking id>
	@[[ -n "$${ID-}" ]] || { echo "usage: make kibana ID=<tracking id>" >&2; exit 2; }
	@test -x $(PY) || { echo "no $(PY): run make install (or uv sync) first" >&2; exit 1; }
	@$(PY) -m loadgen.kibana "$$ID"

.PHONY: install-compose-validator
install-compose-validator: ## Debian's docker-compose (v1), only to validate docker-compose.yml in tests
	@if command -v docker-compose >/dev/null; then \
		echo "docker-compose present: $$(docker-compose version --short)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y -qq docker-compose >/dev/null || \
			{ apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; }; \
		echo "installed docker-compose $$(docker-compose version --short)"; \
	else \
		echo "WARNING: docker-compose missing and cannot apt-get it here (needs root on Debian);" \
			"tests/unit/setup/test_compose.py will fail until it is installed" >&2; \
	fi

.PHONY: compose-check
compose-check: ## End to end on Docker: up --wait, short load, make verify, Kibana's data view, saved objects, a search
	@$(HOST_PYTHON) -m setup.compose_check
