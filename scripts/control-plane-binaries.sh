#!/usr/bin/env bash
# Yields kube-apiserver, etcd, kubectl and helm in a cache directory and prints that directory on stdout (last line).
# Order: $KUBEBUILDER_ASSETS if it holds the binaries (envtest convention) → the cache → a build from the Go module proxy.
# Nothing is downloaded from release sites: the binaries are compiled from registry modules through wrapper modules.
set -euo pipefail

K8S_VERSION="${LIVEUPDATE_K8S_VERSION:-v1.36.2}"
ETCD_VERSION="${LIVEUPDATE_ETCD_VERSION:-v3.6.8}"
HELM_VERSION="${LIVEUPDATE_HELM_VERSION:-v4.3.2}"
CACHE_ROOT="${LIVEUPDATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/liveupdate-operator}"
# helm is not in the directory name: a cache made before helm was added only builds the missing helm. Its version is
# checked below, so a changed HELM_VERSION rebuilds helm alone.
BIN_DIR="$CACHE_ROOT/control-plane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
NEEDED=(kube-apiserver etcd kubectl helm)

log() { printf '[control-plane] %s\n' "$*" >&2; }
is_binary() { [ -f "$1" ] && [ -x "$1" ]; }
have_all() { local b; for b in "${NEEDED[@]:0:2}"; do is_binary "$1/$b" || return 1; done; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  if have_all "$KUBEBUILDER_ASSETS"; then
    log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
    echo "$KUBEBUILDER_ASSETS"; exit 0
  fi
  log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks kube-apiserver or etcd; falling back to the cache"
fi

missing=()
for b in "${NEEDED[@]}"; do is_binary "$BIN_DIR/$b" || missing+=("$b"); done
helm_stamp="$BIN_DIR/.helm-version"
if is_binary "$BIN_DIR/helm" && [ "$(cat "$helm_stamp" 2>/dev/null)" != "$HELM_VERSION" ]; then missing+=(helm); fi
if [ ${#missing[@]} -eq 0 ]; then
  log "cached: $BIN_DIR"
  echo "$BIN_DIR"; exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
[control-plane] error: the Go toolchain is needed to build ${missing[*]} ($K8S_VERSION / etcd $ETCD_VERSION),
  and no usable KUBEBUILDER_ASSETS was given.
  Either install Go (>= 1.26) so the binaries can be built from the Go module proxy,
  or point KUBEBUILDER_ASSETS at a directory holding kube-apiserver and etcd (e.g. from setup-envtest).
MSG
  exit 3
fi

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
JOBS="${LIVEUPDATE_GO_JOBS:-2}"
mkdir -p "$BIN_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/liveupdate-cp-build.XXXXXX")"
mkdir -p "$WORK/out"
trap 'rm -rf "$WORK"' EXIT

# go build into the work dir, then rename into the cache: a failed build never leaves a half-written binary.
build() { # module-dir package output-name ldflags
  local dir=$1 pkg=$2 out=$3 ldflags=$4 start=$SECONDS
  log "building $out from $pkg (first build takes minutes)…"
  if ! (cd "$dir" && go build -p "$JOBS" -trimpath -ldflags "$ldflags" -o "$WORK/out/$out" "$pkg"); then
    log "error: building $out from module $(head -1 "$dir/go.mod" | cut -d' ' -f2) ($pkg) failed; see the Go error above"
    exit 4
  fi
  mv -f "$WORK/out/$out" "$BIN_DIR/$out"
  log "built $out in $((SECONDS - start)) s"
}

# Adds a tool requirement pinned at its version (a bare path would float to the newest release).
resolve() { # module-dir package@version
  log "resolving $2 from the Go module proxy…"
  if ! (cd "$1" && go get -tool "$2" >"$WORK/resolve.log" 2>&1); then
    tail -n 30 "$WORK/resolve.log" >&2
    log "error: resolving $2 failed"; exit 4
  fi
}

need() { local b; for b in "${missing[@]}"; do [ "$b" = "$1" ] && return 0; done; return 1; }

if need kube-apiserver || need kubectl; then
  # k8s.io/kubernetes maps its staging modules to ./staging/... so `go install …@version` cannot work.
  # A wrapper module requires it and points every staging module at its published v0.Y.Z, derived from upstream's go.mod.
  kdir="$WORK/kubernetes"; mkdir -p "$kdir"
  gomod="$(cd "$kdir" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
  [ -f "$gomod" ] || { log "error: could not fetch go.mod of k8s.io/kubernetes@$K8S_VERSION"; exit 4; }
  staging_version="v0.${K8S_VERSION#v1.}"
  {
    echo "module liveupdate.dev/build/kubernetes"
    echo "go $(sed -n 's/^go \([0-9.]*\).*/\1/p' "$gomod")"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9.-]*\) => \./staging/.*#replace \1 => \1 '"$staging_version"'#p' "$gomod"
  } > "$kdir/go.mod"
  log "wrapper module replaces $(grep -c '^replace' "$kdir/go.mod") staging modules with $staging_version"
  pkgs=(); need kube-apiserver && pkgs+=(k8s.io/kubernetes/cmd/kube-apiserver); need kubectl && pkgs+=(k8s.io/kubernetes/cmd/kubectl)
  for p in "${pkgs[@]}"; do resolve "$kdir" "$p@$K8S_VERSION"; done
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  vpkg=k8s.io/component-base/version
  ldflags="-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  need kube-apiserver && build "$kdir" k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver "$ldflags"
  need kubectl && build "$kdir" k8s.io/kubernetes/cmd/kubectl kubectl "$ldflags"
fi

if need etcd; then
  # The etcd server's package main sits at the root of go.etcd.io/etcd/server/v3, whose go.mod has local replaces.
  edir="$WORK/etcd"; mkdir -p "$edir"
  printf 'module liveupdate.dev/build/etcd\ngo 1.24\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > "$edir/go.mod"
  resolve "$edir" "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  build "$edir" go.etcd.io/etcd/server/v3 etcd "-s -w"
fi

if need helm; then
  # helm's go.mod has no local replaces; a wrapper module still pins it and keeps its dependencies apart from k8s's.
  hdir="$WORK/helm"; mkdir -p "$hdir"
  printf 'module liveupdate.dev/build/helm\ngo 1.26\nrequire helm.sh/helm/v4 %s\n' "$HELM_VERSION" > "$hdir/go.mod"
  resolve "$hdir" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  build "$hdir" helm.sh/helm/v4/cmd/helm helm "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
  echo "$HELM_VERSION" > "$helm_stamp"
fi

log "ready: $BIN_DIR ($(du -sh "$BIN_DIR" | cut -f1))"
echo "$BIN_DIR"
