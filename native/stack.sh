#!/usr/bin/env bash
# The whole trackstack stack without Docker (`make native-up` / `make native-down`):
# Elasticsearch (+ esfront) -> setup (template, users) -> two service instances -> Filebeat.
# ES_NODES=N starts an Elasticsearch cluster of N nodes (native/elasticsearch.sh, "A cluster").
#
#   native/stack.sh up       start what is not running; safe to re-run
#   native/stack.sh down     stop everything, in reverse order
#   native/stack.sh status   one line per piece (name, state, pid, port); exit 0 if all run,
#                            3 if any is stopped (LSB's "program is not running")
#   native/stack.sh reset    down, then delete .run/ (indices, registry, logs); keeps .cache/ and .secrets/
#
# Logs and pids of every piece live under .run/; downloads and builds under .cache/;
# generated passwords under .secrets/ (see README, "Where things live").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="$ROOT/native"

up() {
    "$N/elasticsearch.sh" start
    # Every node (ES_NODES, README "Scaling out"): setup and Filebeat use them all.
    (cd "$ROOT" && ES_URL="${ES_URL:-$("$N/elasticsearch.sh" hosts)}" .venv/bin/python -m setup)
    "$N/service.sh" start
    "$N/filebeat.sh" start
    cat <<MSG

trackstack (native) is up:
  service         http://127.0.0.1:8000   (Flask, gunicorn; /api/orders/<id> calls orders)
  orders          http://127.0.0.1:8001   (FastAPI, uvicorn)
  Elasticsearch   $("$N/elasticsearch.sh" hosts | sed 's/,/ /g')   user elastic, password in .secrets/elastic.env
  logs            .run/logs/*.ndjson -> Filebeat -> trackstack-logs-YYYY.MM.DD
Try:  curl -si http://127.0.0.1:8000/api/orders/42   then   make trace ID=<its X-Tracking-ID>
MSG
}

down() {
    "$N/filebeat.sh" stop
    "$N/service.sh" stop
    "$N/elasticsearch.sh" stop
}

status() {
    local rc=0
    "$N/elasticsearch.sh" status || rc=3
    "$N/service.sh" status || rc=3
    "$N/filebeat.sh" status || rc=3
    return $rc
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
reset) down && rm -rf "$ROOT/.run" && echo "stack.sh: removed .run/" ;;
*) echo "usage: $0 up|down|status|reset" >&2; exit 2 ;;
esac
