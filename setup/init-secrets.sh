#!/usr/bin/env bash
# docker compose's first step (service init-secrets): generate the missing secrets into
# SECRETS_DIR, the repository's .secrets/ bind-mounted, then let the stack's containers read
# them. Re-running changes nothing that exists.
#
# Who reads .secrets/: the host user (make urls, make kibana, the load generator), and
# containers running as other users: Elasticsearch and Kibana (uid 1000, in group 0), setup
# and the services (uid 10001, group 0), Filebeat (root). So the files belong to the host
# user who owns the checkout, with group 0, and are readable by owner and group only:
# directory 0750, files 0640. Docker Desktop may not allow chown on bind mounts; its file
# sharing then lets every container read them anyway, so a failed chown is only reported.
#
# RUNS_DIR (optional, compose mounts the checkout's runs/ there): made writable for the load
# generator's container (uid 10001, group 0), so its run folders land on the host where
# `make verify` and `make trace` read them: the host user's directory, group 0, mode 2775
# (setgid: new run folders keep group 0).
#
# Environment: SECRETS_DIR (required), RUNS_DIR (optional), PYTHON (default: python).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
secrets_dir="${SECRETS_DIR:?set SECRETS_DIR to the secrets directory}"

(cd "$here/.." && "${PYTHON:-python}" -m setup secrets)

owner="$(stat -c %u "$here")"
if ! chown "$owner:0" "$secrets_dir" "$secrets_dir"/*.env 2>/dev/null; then
    echo "init-secrets: warning: could not chown $secrets_dir to $owner:0" >&2
fi
chmod 0750 "$secrets_dir"
chmod 0640 "$secrets_dir"/*.env
if [ -n "${RUNS_DIR:-}" ]; then
    mkdir -p "$RUNS_DIR"
    if ! chown "$owner:0" "$RUNS_DIR" 2>/dev/null; then
        echo "init-secrets: warning: could not chown $RUNS_DIR to $owner:0" >&2
    fi
    chmod 2775 "$RUNS_DIR"
fi
echo "init-secrets: $secrets_dir ready (owner uid $owner, group 0, files 0640)"
