#!/usr/bin/env bash
# Build the OSS Filebeat for the native stack from the Go module in native/filebeat/.
#
#   native/build-filebeat.sh            # prints the binary's path on stdout
#   FORCE=1 native/build-filebeat.sh    # rebuild even if the cached binary is current
#
# The binary goes to .cache/filebeat/<ELASTIC_VERSION>/filebeat (git-ignored). A stamp
# next to it records the inputs (go.mod, go.sum, main.go, Go version); when they are
# unchanged the build is skipped, so calling this before every `make native-up` is cheap.
# The Go module and build caches stay at Go's defaults (GOMODCACHE, GOCACHE), so a
# rebuild after a pin change only downloads what changed.
#
# ELASTIC_VERSION (environment, else .env) must equal the libbeat version of the beats
# commit pinned in native/filebeat/go.mod: the script refuses to build a Filebeat that
# would report a different version than the Elasticsearch it talks to.
# Progress and timings go to stderr; stdout carries only the path.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
module_dir="$repo_root/native/filebeat"
beats_module=github.com/elastic/beats/v7

SCRIPT=build-filebeat LOG_FD=2 # stdout carries only the path
# shellcheck source=native/lib.sh
source "$repo_root/native/lib.sh"
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fs", b - a }'; }

command -v go >/dev/null || PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || die "go not found (install Go >= $(awk '$1 == "go" { print $2 }' "$module_dir/go.mod"))"

elastic_version=${ELASTIC_VERSION:-$(sed -n 's/^ELASTIC_VERSION=//p' "$repo_root/.env" | tr -d '"'"'"'[:space:]')}
[ -n "$elastic_version" ] || die "ELASTIC_VERSION is not set in .env"

out_dir="$repo_root/.cache/filebeat/$elastic_version"
binary="$out_dir/filebeat"
stamp_file="$out_dir/filebeat.stamp"
stamp=$(cd "$module_dir" && { sha256sum go.mod go.sum main.go; go env GOVERSION; } | sha256sum | cut -d' ' -f1)

if [ -z "${FORCE:-}" ] && [ -x "$binary" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
    log "up to date: $binary"
    echo "$binary"
    exit 0
fi

cd "$module_dir"
# Builds use the committed go.mod/go.sum as they are; never let the build edit them.
export GOFLAGS="-mod=readonly ${GOFLAGS:-}"

t_start=$(now)
log "downloading modules (cached after the first run) ..."
go mod download
t_downloaded=$(now)

beats_dir=$(go list -m -f '{{.Dir}}' "$beats_module")
beats_pin=$(go list -m -f '{{.Version}}' "$beats_module")
beats_version=$(sed -n 's/^const defaultBeatVersion = "\(.*\)"$/\1/p' "$beats_dir/libbeat/version/version.go")
[ "$beats_version" = "$elastic_version" ] || die "native/filebeat/go.mod pins $beats_module $beats_pin, which is Filebeat $beats_version, but .env has ELASTIC_VERSION=$elastic_version; pin a beats commit of that version (see the comment in native/filebeat/go.mod) or change .env"

# Pseudo-version: v7.0.0-alpha2.0.<yyyymmddhhmmss>-<12-hex commit>.
commit=${beats_pin##*-}
commit_time=$(echo "$beats_pin" | sed -n 's/.*\.\([0-9]\{4\}\)\([0-9]\{2\}\)\([0-9]\{2\}\)\([0-9]\{2\}\)\([0-9]\{2\}\)\([0-9]\{2\}\)-[0-9a-f]*$/\1-\2-\3T\4:\5:\6Z/p')
version_pkg="$beats_module/libbeat/version"

log "building Filebeat $beats_version ($beats_pin) with $(go env GOVERSION) ..."
mkdir -p "$out_dir"
tmp_binary=$(mktemp "$out_dir/.filebeat.XXXXXX")
trap 'rm -f "$tmp_binary"' EXIT
# Static binary without cgo, as Filebeat's own Linux builds; build time is the
# commit time so the binary depends only on its inputs.
CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X $version_pkg.commit=$commit -X $version_pkg.buildTime=$commit_time" \
    -o "$tmp_binary" .
mv -f "$tmp_binary" "$binary"
trap - EXIT
# Filebeat looks for modules in <path.home>/module (path.home defaults to the binary's
# directory) and logs an error on every start when the directory is missing. We use none.
mkdir -p "$out_dir/module"
echo "$stamp" >"$stamp_file"
t_built=$(now)

log "built $binary ($(du -h "$binary" | cut -f1))"
log "timings: download $(elapsed "$t_start" "$t_downloaded"), compile $(elapsed "$t_downloaded" "$t_built"), total $(elapsed "$t_start" "$t_built")"
echo "$binary"
