#!/usr/bin/env bash
# Builds native/build/luo-helper from native/luo-helper.c. Idempotent: does nothing when the binary is newer than
# its source and this script. Compiles to a temporary file and renames it, so a crash never leaves half a binary.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/native/luo-helper.c"
out_dir="$root/native/build"
out="$out_dir/luo-helper"
cc="${CC:-cc}"

if [[ -x "$out" && "$out" -nt "$src" && "$out" -nt "${BASH_SOURCE[0]}" ]]; then
  exit 0
fi

if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build-native: no C compiler ('$cc') found. The LUO helper (native/luo-helper.c) needs one:" >&2
  echo "  install gcc or clang (Debian/Ubuntu: apt-get install gcc), or set CC=/path/to/compiler." >&2
  exit 1
fi

mkdir -p "$out_dir"
tmp="$(mktemp "$out_dir/.luo-helper.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
"$cc" -std=c11 -O2 -Wall -Wextra -Werror -o "$tmp" "$src"
chmod 755 "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
echo "build-native: built $out"
