#!/usr/bin/env bash
# Builds the repository's Dockerfile with buildah (daemonless) and runs the image checks of test.sh on the result.
# No registry but npm's and Debian's is reachable here, so the base image node:24.21.0-bookworm-slim is replaced by a
# stand-in with the same shape: Debian bookworm (debootstrap --variant=minbase), Node 24 at /usr/local/bin/node (the
# `node` devDependency's binary) and npm under /usr/local/lib/node_modules/npm (the machine's). It is stored under
# that very name in a private buildah storage, so the Dockerfile builds unchanged, with its default NODE_IMAGE.
# Slow (minutes; the first run also bootstraps Debian), hence not part of image:test.
# Needs root and: buildah, debootstrap, skopeo, umoci, runc (apt-get install buildah debootstrap skopeo umoci runc).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="$root/.cache/image/dockerfile-check"
base_ref="docker.io/library/node:24.21.0-bookworm-slim"
node24="$(readlink -f "$root/node_modules/.bin/node")"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"

for tool in buildah debootstrap skopeo umoci runc; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "image/dockerfile-check: '$tool' not found (Debian: apt-get install $tool)" >&2
    exit 1
  }
done
grep -q "$(sed -n 's/^ARG NODE_IMAGE=//p' "$root/Dockerfile")" <<<"$base_ref" ||
  { echo "image/dockerfile-check: the Dockerfile's NODE_IMAGE is not $base_ref: update this script" >&2; exit 1; }

mkdir -p "$state"
exec 9>"$state/.lock"
flock 9
# crun (buildah's default) refuses this machine's hybrid cgroup hierarchy; runc works. overlay on the ext4 disk.
buildah=(buildah --root "$state/storage" --runroot "$state/run" --storage-driver overlay)

# 1. The stand-in base, once (delete $state to rebuild it).
if ! "${buildah[@]}" images --quiet "$base_ref" >/dev/null 2>&1; then
  echo "image/dockerfile-check: building the stand-in for $base_ref (debootstrap bookworm)" >&2
  rm -rf "$state/base"
  mkdir -p "$state/base"
  debootstrap --variant=minbase bookworm "$state/base/rootfs" http://deb.debian.org/debian >"$state/base/debootstrap.log" 2>&1 ||
    { tail -20 "$state/base/debootstrap.log" >&2; exit 1; }
  install -D -m 755 "$node24" "$state/base/rootfs/usr/local/bin/node"
  mkdir -p "$state/base/rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$state/base/rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$state/base/rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$state/base/rootfs/usr/local/bin/npx"
  umoci init --layout "$state/base/oci"
  umoci new --image "$state/base/oci:base"
  umoci insert --image "$state/base/oci:base" "$state/base/rootfs" /
  umoci config --image "$state/base/oci:base" --config.cmd node \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  skopeo copy -q "oci:$state/base/oci:base" "containers-storage:[overlay@$state/storage+$state/run]$base_ref"
  rm -rf "$state/base"
fi

# 2. The Dockerfile, unchanged. If npm here trusts a custom CA (a TLS-inspecting proxy), its RUN steps get the same
# CA file and an npmrc naming it, as mounts: nothing of it lands in the image.
mounts=()
cafile="$(npm config get cafile)"
if [[ -n "$cafile" && "$cafile" != null && -f "$cafile" ]]; then
  printf 'cafile=/run/npm-ca.crt\n' >"$state/npmrc"
  mounts=(--volume "$cafile:/run/npm-ca.crt:ro" --volume "$state/npmrc:/root/.npmrc:ro")
fi
echo "image/dockerfile-check: buildah build (Dockerfile)" >&2
"${buildah[@]}" build --runtime runc --pull=never --network host --layers "${mounts[@]}" \
  --build-arg VERSION="$("$node24" -p "require('$root/package.json').version")" \
  --build-arg REVISION="$(git -C "$root" rev-parse HEAD)" \
  -t localhost/liveupdate-operator:dockerfile -f "$root/Dockerfile" "$root" >"$state/build.log" 2>&1 ||
  { tail -30 "$state/build.log" >&2; exit 1; }

# 3. The image as an OCI layout, then the same checks as the daemonless image.
rm -rf "$state/oci"
"${buildah[@]}" push -q localhost/liveupdate-operator:dockerfile "oci:$state/oci:dockerfile"
IMAGE="$state/oci:dockerfile" bash "$here/test.sh"
