#!/usr/bin/env bash
# Yields Prometheus's promtool (and, when asked, prometheus itself) in a cache directory and prints that directory on
# stdout (last line). Usage: prometheus-binaries.sh [promtool] [prometheus] (default: promtool).
# Like control-plane-binaries.sh: the cache first, else a build from the Go module proxy through a wrapper module;
# nothing is downloaded from release sites. The test suite runs `promtool test rules` on the chart's alerts.
set -euo pipefail

# Prometheus publishes its Go module as v0.<major><minor>.<patch>: v0.316.0 is Prometheus 3.16.0.
PROM_MODULE_VERSION="${LIVEUPDATE_PROMETHEUS_VERSION:-v0.316.0}"
CACHE_ROOT="${LIVEUPDATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/liveupdate-operator}"
BIN_DIR="$CACHE_ROOT/prometheus/$PROM_MODULE_VERSION"
NEEDED=("$@")
[ ${#NEEDED[@]} -gt 0 ] || NEEDED=(promtool)

log() { printf '[prometheus] %s\n' "$*" >&2; }
is_binary() { [ -f "$1" ] && [ -x "$1" ]; }

missing=()
for b in "${NEEDED[@]}"; do
  case "$b" in promtool | prometheus) ;; *) log "error: unknown binary '$b' (promtool or prometheus)"; exit 2 ;; esac
  is_binary "$BIN_DIR/$b" || missing+=("$b")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "cached: $BIN_DIR"
  echo "$BIN_DIR"; exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  log "error: the Go toolchain (>= 1.25) is needed to build ${missing[*]} (Prometheus module $PROM_MODULE_VERSION); install Go and re-run"
  exit 3
fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
JOBS="${LIVEUPDATE_GO_JOBS:-2}"
mkdir -p "$BIN_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/liveupdate-prom-build.XXXXXX")"
mkdir -p "$WORK/out" "$WORK/mod"
trap 'rm -rf "$WORK"' EXIT

# A wrapper module pins github.com/prometheus/prometheus at its version (a bare path would float to the newest).
mdir="$WORK/mod"
printf 'module liveupdate.dev/build/prometheus\ngo 1.25\nrequire github.com/prometheus/prometheus %s\n' "$PROM_MODULE_VERSION" > "$mdir/go.mod"
minor="${PROM_MODULE_VERSION#v0.}"; patch="${minor#*.}"; minor="${minor%%.*}"
release="$((10#$minor / 100)).$((10#$minor % 100)).$patch"
vpkg=github.com/prometheus/common/version
ldflags="-s -w -X $vpkg.Version=$release -X $vpkg.Branch=release -X $vpkg.BuildUser=liveupdate-operator"

for b in "${missing[@]}"; do
  pkg="github.com/prometheus/prometheus/cmd/$b"
  log "resolving $pkg@$PROM_MODULE_VERSION from the Go module proxy…"
  if ! (cd "$mdir" && go get -tool "$pkg@$PROM_MODULE_VERSION" >"$WORK/resolve.log" 2>&1); then
    tail -n 30 "$WORK/resolve.log" >&2
    log "error: resolving $pkg@$PROM_MODULE_VERSION failed"; exit 4
  fi
  start=$SECONDS
  log "building $b $release (first build takes minutes)…"
  # Into the work dir, then renamed into the cache: a failed build never leaves a half-written binary.
  # remove_all_sd (Prometheus's own build tag) leaves out the cloud service discoveries (AWS, Azure, GCE, …): rule
  # tests and the scrape of local targets need none, and their SDKs were most of the cold build.
  if ! (cd "$mdir" && go build -p "$JOBS" -tags remove_all_sd -trimpath -ldflags "$ldflags" -o "$WORK/out/$b" "$pkg"); then
    log "error: building $b from $pkg@$PROM_MODULE_VERSION failed; see the Go error above"; exit 4
  fi
  mv -f "$WORK/out/$b" "$BIN_DIR/$b"
  log "built $b in $((SECONDS - start)) s"
done

log "ready: $BIN_DIR ($(du -sh "$BIN_DIR" | cut -f1))"
echo "$BIN_DIR"
