#!/usr/bin/env bash
# Filebeat without Docker: the binary native/build-filebeat.sh makes, the shared
# filebeat/filebeat.yml in native mode, reading the service's .run/logs/*.ndjson.
#
#   native/filebeat.sh start | stop | kill | status
#   (status: one line: name, state, pid, port (none); exit 0 if it runs, else 3)
#
# `kill` is SIGKILL on purpose (the e2e tests use it to prove nothing is lost or doubled).
# FILEBEAT_MODE=compose (`make soak MODE=compose`): inputs.d/compose.yml instead, on the
# Docker-like .run/containers/<id>/<id>-json.log* that the soak's relay writes.
# Registry (what was shipped up to where): .run/filebeat/data; logs: .run/filebeat/logs
# and .run/filebeat/filebeat.out. Credentials: .secrets/trackstack_filebeat.env.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$ROOT/.run/filebeat"
PIDFILE="$RUN/filebeat.pid"
CREDENTIALS="$ROOT/.secrets/trackstack_filebeat.env"
STOP_TIMEOUT="${FILEBEAT_STOP_TIMEOUT:-20}"

SCRIPT=filebeat.sh
# shellcheck source=native/lib.sh
source "$ROOT/native/lib.sh"
filebeat_pid() { running_pid "$PIDFILE" filebeat; } # the binary's path names it

start() {
    local pid
    if pid=$(filebeat_pid); then
        log "already running (pid $pid)"
        return
    fi
    local binary
    binary=$("$ROOT/native/build-filebeat.sh")
    [[ -r "$CREDENTIALS" ]] || die "no $CREDENTIALS: start Elasticsearch first (native/elasticsearch.sh start)"
    mkdir -p "$RUN/data" "$RUN/logs" "$ROOT/.run/logs"
    # filebeat.out is appended to across restarts: only what this start writes counts below.
    local out_from
    out_from=$(($(stat -c %s "$RUN/filebeat.out" 2>/dev/null || echo 0) + 1))
    # Filebeat refuses a config that group/others can write.
    chmod go-w "$ROOT/filebeat/filebeat.yml" "$ROOT"/filebeat/inputs.d/*.yml
    (
        set -a
        # shellcheck disable=SC1090
        source "$CREDENTIALS"
        set +a
        # *.ndjson* also matches rotated files (<name>.ndjson.<time>): a renamed file keeps
        # its fingerprint, so Filebeat reads it to the end instead of dropping its tail.
        export TRACKSTACK_MODE="${FILEBEAT_MODE:-native}" TRACKSTACK_LOG_GLOB="$ROOT/.run/logs/*.ndjson*"
        export TRACKSTACK_CONTAINER_LOG_GLOB="$ROOT/.run/containers/*/*-json.log*"
        # Every node of the cluster (one unless ES_NODES): Filebeat balances its batches
        # over them and retries a failed one on another.
        ES_HOSTS="${ES_HOSTS:-$("$ROOT/native/elasticsearch.sh" hosts)}"
        export ES_HOSTS
        exec setsid "$binary" -e --path.config "$ROOT/filebeat" --path.home "$(dirname "$binary")" \
            --path.data "$RUN/data" --path.logs "$RUN/logs" >>"$RUN/filebeat.out" 2>&1
    ) &
    echo $! >"$PIDFILE"
    # Up = still running and this process logged its connection to Elasticsearch. (grep reads
    # all its input: with -q it could exit first, and tail's SIGPIPE fail the pipeline.)
    for _ in $(seq 1 60); do
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { tail -n 20 "$RUN/filebeat.out" >&2; die "Filebeat exited at start"; }
        if tail -c "+$out_from" "$RUN/filebeat.out" 2>/dev/null |
            grep "Connection to backoff(elasticsearch(.*)) established" >/dev/null; then
            log "up (pid $(cat "$PIDFILE")), ${FILEBEAT_MODE:-native} mode"
            return
        fi
        sleep 0.5
    done
    log "up (pid $(cat "$PIDFILE")); no Elasticsearch connection logged yet (it connects on the first event)"
}

stop() {
    local signal=${1:-TERM} pid
    if ! pid=$(filebeat_pid); then
        rm -f "$PIDFILE"
        log "filebeat was not running"
        return
    fi
    stop_pid filebeat "$PIDFILE" "$pid" "$STOP_TIMEOUT" "$signal"
}

case "${1:-}" in
start) start ;;
stop) stop TERM ;;
kill) stop KILL ;;
status)
    if pid=$(filebeat_pid); then status_line filebeat running "$pid" -; else
        status_line filebeat stopped "" -
        exit 3
    fi
    ;;
*) echo "usage: $0 start|stop|kill|status" >&2; exit 2 ;;
esac
