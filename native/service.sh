#!/usr/bin/env bash
# The two services without Docker, as compose runs them: one tracking ID across both.
#
#   native/service.sh start    instance "trackstack-service" on :8000 (Flask, gunicorn +
#                              gevent) calls "trackstack-orders" on :8001 (FastAPI, uvicorn
#                              workers: python -m orders) for /api/orders/<id>
#   native/service.sh stop     SIGTERM (graceful: gunicorn/uvicorn drain), SIGKILL after a timeout
#   native/service.sh status   one line per instance (name, state, pid, port); exit 0 if both run, else 3
#   native/service.sh rotate   rename each log to <name>.ndjson.<UTC time>, then SIGUSR1:
#                              gunicorn / orders' manager reopen LOG_FILE in every process
#                              (Filebeat follows the rename)
#
# Each instance's stdout+stderr is appended to .run/logs/<name>.ndjson: the files Filebeat's
# native input reads (TRACKSTACK_LOG_GLOB). pids in .run/service/. Extra settings for the
# service (FAULT_*, LOG_LEVEL ...) pass through from the environment. DEBUG_LOG_TOKEN comes
# from the environment, else from .secrets/service.env (generated on first start).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$ROOT/.run/service"
LOGS="$ROOT/.run/logs"
PY="$ROOT/.venv/bin/python"
STOP_TIMEOUT="${SERVICE_STOP_TIMEOUT:-30}"
# name:port:downstream port:app (service = Flask under gunicorn, orders = FastAPI under uvicorn)
INSTANCES=("trackstack-service:8000:8001:service" "trackstack-orders:8001:8001:orders")

SCRIPT=service.sh
# shellcheck source=native/lib.sh
source "$ROOT/native/lib.sh"

instance_pid() { # instance_pid NAME: its pid while it runs (gunicorn's master, orders' manager)
    local pattern="-m service\|gunicorn" # gunicorn: a master renamed by setproctitle
    [[ $1 == trackstack-orders ]] && pattern="-m orders"
    running_pid "$RUN/$1.pid" "$pattern"
}

start_one() {
    local name=$1 port=$2 downstream=$3 app=$4 pidfile="$RUN/$1.pid"
    local pid
    if pid=$(instance_pid "$name"); then
        log "$name already running (pid $pid); settings in the environment apply to a new start: make native-down first"
        return
    fi
    mkdir -p "$RUN" "$LOGS"
    # What this start writes begins at this offset of its log (earlier runs' lines are above).
    local since=0
    [[ -f $LOGS/$name.ndjson ]] && since=$(stat -c %s "$LOGS/$name.ndjson")
    (
        cd "$ROOT"
        export SERVICE_NAME="$name" PORT="$port"
        export DOWNSTREAM_URL="${DOWNSTREAM_URL_OVERRIDE:-http://127.0.0.1:$downstream}"
        # A failed request's DEBUG lines are written, before its access line (workshop lab 7).
        export DEBUG_ON_FAILURE="${DEBUG_ON_FAILURE:-1}"
        # LOG_FILE: the service reopens it on SIGUSR1, so `native/service.sh rotate` can
        # rename it away. The shell redirect catches anything before logging is set up.
        export LOG_FILE="$LOGS/$name.ndjson"
        if [[ $app == orders ]]; then
            echo "$BASHPID" >"$pidfile" # exec keeps the pid: the manager's
            exec setsid "$PY" -m orders >>"$LOGS/$name.ndjson" 2>&1
        fi
        exec setsid "$PY" -m service --pid "$pidfile" \
            >>"$LOGS/$name.ndjson" 2>&1
    ) &
    local child=$! status
    for _ in $(seq 1 300); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/api/health" 2>/dev/null; then
            log "$name up on 127.0.0.1:$port (log: .run/logs/$name.ndjson)"
            return
        fi
        if ! kill -0 "$child" 2>/dev/null; then # it ended: say why now, not after 60 s
            status=0
            wait "$child" || status=$?
            tail -c +$((since + 1)) "$LOGS/$name.ndjson" | tail -n 20 >&2 || true
            die "$name exited while starting (status $status); its output since this start is above"
        fi
        sleep 0.2
    done
    tail -c +$((since + 1)) "$LOGS/$name.ndjson" | tail -n 20 >&2 || true
    die "$name did not answer on 127.0.0.1:$port within 60 s; its output since this start is above"
}

stop_one() {
    local name=$1 pidfile="$RUN/$1.pid" pid
    if ! pid=$(instance_pid "$name"); then
        rm -f "$pidfile"
        log "$name was not running"
        return
    fi
    stop_pid "$name" "$pidfile" "$pid" "$STOP_TIMEOUT"
}

case "${1:-}" in
start)
    [[ -x "$PY" ]] || die "no $PY: run 'make install' first"
    secrets="${SECRETS_DIR:-$ROOT/.secrets}/service.env"
    if ! grep -q '^DEBUG_LOG_TOKEN=.' "$secrets" 2>/dev/null; then
        # python -m setup is the one place secrets are generated (compose's init-secrets too).
        (cd "$ROOT" && "$PY" -m setup secrets >/dev/null)
        log "generated DEBUG_LOG_TOKEN into ${secrets#"$ROOT"/}"
    fi
    if [[ -z "${DEBUG_LOG_TOKEN:-}" ]]; then
        DEBUG_LOG_TOKEN=$(sed -n 's/^DEBUG_LOG_TOKEN=//p' "$secrets")
        export DEBUG_LOG_TOKEN
    fi
    for spec in "${INSTANCES[@]}"; do
        IFS=: read -r name port downstream app <<<"$spec"
        start_one "$name" "$port" "$downstream" "$app"
    done
    ;;
stop)
    for spec in "${INSTANCES[@]}"; do stop_one "${spec%%:*}"; done
    ;;
rotate)
    for spec in "${INSTANCES[@]}"; do
        name=${spec%%:*}
        pid=$(instance_pid "$name") || continue
        mv "$LOGS/$name.ndjson" "$LOGS/$name.ndjson.$(date -u +%Y%m%dT%H%M%S.%N)"
        kill -USR1 "$pid"
    done
    ;;
status)
    rc=0
    for spec in "${INSTANCES[@]}"; do
        IFS=: read -r name port _ <<<"$spec"
        if pid=$(instance_pid "$name"); then status_line "$name" running "$pid" "$port"; else
            status_line "$name" stopped "" "$port"
            rc=3
        fi
    done
    exit $rc
    ;;
*)
    echo "usage: $0 start|stop|status|rotate" >&2
    exit 2
    ;;
esac
