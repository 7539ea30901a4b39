#!/usr/bin/env bash
# Builds the lane's kernel and the kernel's LUO selftests once per (source version, config fragment) into
# <cache>/build/<version>-<fragment hash>/ (built in a temporary directory, then renamed, so an interrupted build
# is never taken for a finished one). Prints that directory: bzImage, config, selftests/{liveupdate,...}.
# Usage: build.sh <cache-dir> <source-dir>
set -euo pipefail
cache=$1 src=$2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fragment=$here/config.fragment
version=$(basename "$(dirname "$src")")
key=$(cat "$fragment" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
out=$cache/build/$version-$key
if [[ -f $out/bzImage && -x $out/selftests/liveupdate ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$cache/build"
tmp=$(mktemp -d "$cache/build/.tmp-$version-$key.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
obj=$tmp/obj
jobs=$(nproc)
log=$cache/build/$version-$key.log
echo "build: kernel $version, fragment $key (log: $log)" >&2
{
  make -C "$src" O="$obj" tinyconfig
  "$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$fragment"
  make -C "$src" O="$obj" olddefconfig
} >"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }

# A symbol whose dependencies are unmet is silently dropped by Kconfig: refuse to build a kernel without it.
missing=$(grep -E '^CONFIG_[A-Z0-9_]+=' "$fragment" | while read -r line; do
  grep -qxF "$line" "$obj/.config" || echo "$line"
done)
if [[ -n $missing ]]; then
  echo "build: these fragment symbols did not survive olddefconfig (unmet dependencies):" >&2
  echo "$missing" >&2
  exit 1
fi

make -C "$src" O="$obj" -j"$jobs" bzImage headers >>"$log" 2>&1 || { tail -n 40 "$log" >&2; exit 1; }

# The selftests from the same tree, linked statically (the guest has no libc of its own).
mkdir -p "$tmp/selftests"
make -C "$src/tools/testing/selftests/liveupdate" OUTPUT="$tmp/selftests" \
  KHDR_INCLUDES="-isystem $obj/usr/include" LDFLAGS=-static >>"$log" 2>&1 || { tail -n 40 "$log" >&2; exit 1; }

cp "$obj/arch/x86/boot/bzImage" "$tmp/bzImage"
cp "$obj/.config" "$tmp/config"
rm -rf "$obj" "$tmp/selftests"/*.o "$tmp/selftests"/*.d
trap - EXIT
rm -rf "$out"
mv "$tmp" "$out"
echo "$out"
