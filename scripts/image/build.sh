#!/usr/bin/env bash
# Daemonless image build: no container engine, no base image. Assembles the root filesystem here — the Node 24 binary
# of the `node` devDependency, the shared libraries ldd lists for it, for the LUO helper and for kexec (Debian's
# kexec-tools), the tsc output, the production node_modules — and writes an OCI image layout with umoci, one layer
# each for the base, the dependencies and the application, the same /app layout as the Dockerfile.
#
# Output: the OCI layout .cache/image/oci, tag = package.json version (IMAGE_TAG overrides). Prints the reference.
# Cache: every step is keyed by a hash of its inputs (tsc output by src + tsconfigs + lockfile, node_modules by
# package.json + lockfile, each layer by its content), so a warm build with nothing changed only re-hashes.
# Needs: umoci and kexec-tools (apt-get install umoci kexec-tools), a C compiler, `npm run setup` done.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="$root/.cache/image"
layout="$cache/oci"
node24="$(readlink -f "$root/node_modules/.bin/node" || true)"

fail() {
  echo "image/build: $*" >&2
  exit 1
}
need() {
  command -v "$1" >/dev/null 2>&1 || fail "'$1' not found: $2"
}
need umoci 'the OCI image tool (Debian: apt-get install umoci)'
need kexec 'the agent loads kernels with kexec (Debian: apt-get install kexec-tools)'
need ldd 'ldd (Debian: libc-bin) lists the shared libraries to copy into the image'
[[ -x "$node24" ]] || fail "no Node 24 at node_modules/.bin/node: run 'npm run setup' (after npm ci) first"

version="$("$node24" -p "require('$root/package.json').version")"
tag="${IMAGE_TAG:-$version}"
revision="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
created="$(git -C "$root" log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)"

mkdir -p "$cache"
# One build at a time per cache: a second one waits instead of racing on the cache entries and the layout.
exec 9>"$cache/.lock"
flock 9
work="$(mktemp -d "$cache/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# A hash of paths under a directory that ignores mtimes and owners: the cache key of a build input or a layer.
content_hash() {
  local dir="$1"
  shift
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - -C "$dir" "$@" | sha256sum | cut -c1-16
}

# Replaces the cached entries named "$prefix*" with $src, renamed to $dest (atomic for readers of $dest).
keep_only() {
  local prefix="$1" src="$2" dest="$3"
  rm -rf "${cache:?}/${prefix:?}"*
  mv "$src" "$dest"
}

# 1. tsc output (what `npm run build` writes to dist/), built into the cache so the checkout's dist/ is untouched.
dist_key="$(content_hash "$root" src tsconfig.json tsconfig.build.json package-lock.json)"
dist="$cache/dist-$dist_key"
if [[ ! -d "$dist" ]]; then
  echo "image/build: compiling src (tsc -p tsconfig.build.json)" >&2
  "$node24" "$root/node_modules/typescript/bin/tsc" -p "$root/tsconfig.build.json" --outDir "$work/dist"
  keep_only dist- "$work/dist" "$dist"
fi

# 2. The LUO helper, built by the project's own script (idempotent) into native/build/.
bash "$root/scripts/build-native.sh" >&2
helper="$root/native/build/luo-helper"

# 3. Production dependencies from the lockfile, installed in a scratch prefix (never in the checkout).
deps_key="$(content_hash "$root" package.json package-lock.json)"
deps="$cache/deps-$deps_key"
if [[ ! -d "$deps" ]]; then
  echo "image/build: npm ci --omit=dev" >&2
  mkdir "$work/deps"
  cp "$root/package.json" "$root/package-lock.json" "$work/deps/"
  npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error --prefix "$work/deps" >&2
  keep_only deps- "$work/deps" "$deps"
fi

# 4. Stage the three layers. Staging dirs get 0755 (mktemp's 0700 would become the image's / and /app).
stage() {
  mkdir -p "$work/layers/$1"
  chmod 755 "$work/layers" "$work/layers/$1"
  echo "$work/layers/$1"
}

base="$(stage base)"
install -D -m 755 "$node24" "$base/usr/local/bin/node"
install -D -m 755 "$(readlink -f "$(command -v kexec)")" "$base/usr/sbin/kexec"
# Every library and the dynamic loader at the path ldd resolves it to; the loader searches those paths by default.
for lib in $(ldd "$node24" "$helper" "$(command -v kexec)" | grep -o '/[^ ]*\.so[^ ]*' | sort -u); do
  install -D -m 755 "$(readlink -f "$lib")" "$base$lib"
done
install -d -m 755 "$base/etc"
printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
  'liveupdate:x:65532:65532:liveupdate:/nonexistent:/usr/sbin/nologin' >"$base/etc/passwd"
printf '%s\n' 'root:x:0:' 'liveupdate:x:65532:' >"$base/etc/group"
chmod 644 "$base/etc/passwd" "$base/etc/group"
install -d -m 1777 "$base/tmp"

deps_layer="$(stage deps)"
install -d -m 755 "$deps_layer/app"
cp -al "$deps/node_modules" "$deps_layer/app/node_modules" # hard links: umoci only reads them

app="$(stage app)"
install -D -m 644 "$root/package.json" "$app/app/package.json"
cp -a "$dist" "$app/app/dist"
install -D -m 755 "$helper" "$app/app/native/build/luo-helper"
cp -a "$root/crds" "$app/app/crds"
install -d -m 755 "$app/app/src/host/sim"
cp -a "$root/src/host/sim/topologies" "$app/app/src/host/sim/topologies"
chmod -R u=rwX,go=rX "$app/app"

# 5. The OCI layout: each layer tag is keyed by its content and its parent, so an unchanged layer is reused.
[[ -f "$layout/index.json" ]] || umoci init --layout "$layout"
tags="$(umoci ls --layout "$layout")"
has_tag() { grep -qxF "$1" <<<"$tags"; }

base_tag="base-$(content_hash "$base" .)"
deps_tag="$base_tag-deps-$(content_hash "$deps_layer" .)"
app_tag="$deps_tag-app-$(content_hash "$app" .)"
base_tag="cache-$base_tag" deps_tag="cache-$deps_tag" app_tag="cache-$app_tag"

if ! has_tag "$base_tag"; then
  echo "image/build: layer base (node, kexec, shared libraries, /etc/passwd, /tmp)" >&2
  umoci new --image "$layout:$base_tag"
  umoci insert --image "$layout:$base_tag" --history.created_by 'scripts/image/build.sh: base' "$base" /
fi
if ! has_tag "$deps_tag"; then
  echo "image/build: layer deps (production node_modules)" >&2
  umoci insert --image "$layout:$base_tag" --tag "$deps_tag" --history.created_by 'scripts/image/build.sh: deps' "$deps_layer" /
fi
if ! has_tag "$app_tag"; then
  echo "image/build: layer app (dist, luo-helper, crds, topologies)" >&2
  umoci insert --image "$layout:$deps_tag" --tag "$app_tag" --history.created_by 'scripts/image/build.sh: app' "$app" /
fi

umoci config --image "$layout:$app_tag" --tag "$tag" --no-history \
  --created "$created" \
  --config.user 65532:65532 \
  --config.workingdir /app \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.env NODE_ENV=production \
  --config.entrypoint /usr/local/bin/node --config.entrypoint /app/dist/src/cli/main.js \
  --config.cmd --help \
  --config.label org.opencontainers.image.title=liveupdate-operator \
  --config.label 'org.opencontainers.image.description=Kubernetes operator and node agent that roll Linux kernel live updates (LUO + KHO) across VFIO passthrough hosts' \
  --config.label org.opencontainers.image.licenses=Apache-2.0 \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.revision=$revision" \
  --config.label "org.opencontainers.image.created=$created"

# Drop the tags of superseded builds, then their blobs.
superseded=0
for old in $(umoci ls --layout "$layout"); do
  case "$old" in "$tag" | "$base_tag" | "$deps_tag" | "$app_tag") ;; *) umoci rm --image "$layout:$old" && superseded=1 ;; esac
done
((superseded)) && umoci gc --layout "$layout"

echo "$layout:$tag"
