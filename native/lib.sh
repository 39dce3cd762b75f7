# shellcheck shell=bash
# What the native/*.sh scripts share; each sources it after setting SCRIPT (its name in
# messages). log/die: one line, prefixed; LOG_FD=2 sends log to stderr (a script whose
# stdout is its result). running_pid/running: a pidfile is trusted only while its process
# runs AND its command line matches the caller's pattern, since after a crash or a reboot the
# kernel may have given that pid to something else, which must never be reported as ours or
# be sent our signals. stop_pid: SIGTERM (or the given signal), wait, then SIGKILL.

log() { printf '%s: %s\n' "$SCRIPT" "$*" >&"${LOG_FD:-1}"; }
die() { printf '%s: error: %s\n' "$SCRIPT" "$*" >&2; exit 1; }

running_pid() { # running_pid PIDFILE PATTERN: prints the pid if it runs and its command matches
    local pidfile="$1" pattern="$2" pid
    [[ -s "$pidfile" ]] || return 1
    pid="$(tr -dc '0-9' <"$pidfile")"
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern" || return 1
    echo "$pid"
}

running() { running_pid "$1" "$2" >/dev/null; } # running PIDFILE PATTERN

# stop_pid NAME PIDFILE PID TIMEOUT_S [SIGNAL]: SIGNAL (TERM), wait up to TIMEOUT_S, then
# SIGKILL to the process group (setsid: a SIGKILLed manager would leave its workers running);
# removes the pidfile. SIGKILL as SIGNAL is not waited for politely: it is the point.
stop_pid() {
    local name="$1" pidfile="$2" pid="$3" timeout_s="$4" signal="${5:-TERM}"
    local deadline=$((SECONDS + timeout_s))
    kill "-$signal" "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "$name (pid $pid) ignored SIG$signal for ${timeout_s}s: sending SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$pidfile"
    log "$name stopped (SIG$signal)"
}

# name, state, pid, port: the line format every native/*.sh status shares (stack.sh status)
status_line() { printf '%-19s %-8s %-10s %s\n' "$1" "$2" "${3:+pid $3}" "port $4"; }
