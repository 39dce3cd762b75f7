# Soak: steady load while Elasticsearch is stopped, Filebeat
# is SIGKILLed, the logs are rotated and bursts of oversized 500s come in; then every line
# the service wrote is matched to its document (python -m soak, soak/).
# Runs against the native stack, whose scripts inject the faults; starts it if it is down.
# tests/e2e/test_soak.py runs the same module with smaller numbers inside `make test`.
SOAK_RATE ?= 50
SOAK_DURATION ?= 300
SOAK_ES_OUTAGE ?= 60
# MODE=compose: Filebeat's compose mode on Docker-like json-file logs (python -m soak
# --mode compose: a relay plays Docker's json-file driver, rotations are Docker's).
MODE ?= native

.PHONY: soak
soak: ## Load + faults (ES down 60 s, Filebeat SIGKILL, 12 rotations, 500 bursts): nothing lost or doubled?
	native/stack.sh up >/dev/null
	$(PY) -m soak --rate $(SOAK_RATE) --duration $(SOAK_DURATION) --es-outage $(SOAK_ES_OUTAGE) --mode $(MODE)

# Node loss: a 2-node Elasticsearch cluster (ES_NODES=2) under load, node 1 stopped for
# SOAK_NODE_OUTAGE s and started again; Filebeat ships to both nodes, setup gave every index a
# replica. The same ledger: lines written = documents, 0 lost, 0 duplicated.
# tests/e2e/test_soak_cluster.py runs it with smaller numbers inside `make test`.
SOAK_NODE_OUTAGE ?= 60

.PHONY: soak-cluster
soak-cluster: ## Soak tier: 2-node native ES cluster, one node stopped under load and restarted: nothing lost or doubled?
	ES_NODES=2 native/stack.sh up >/dev/null
	ES_NODES=2 $(PY) -m soak --rate $(SOAK_RATE) --duration $(SOAK_DURATION) --es-node 1 --es-outage $(SOAK_NODE_OUTAGE) --filebeat-down -1 --rotations 0 --bursts 0
