#!/usr/bin/env bash
# Builds native/build/luo-helper from native/luo-helper.c. Idempotent: does nothing when the binary is newer than
# its source and this script. Compiles to a temporary file and renames it, so a crash never leaves half a binary.
#   --sanitize  instead builds, for the unit tests, native/build/sanitize/luo-helper (the same source with
#               AddressSanitizer + UndefinedBehaviorSanitizer, any finding fatal) and fake-luo.so, the fake LUO
#               kernel (test/native/fake-luo.c) the tests preload into it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/native/luo-helper.c"
cc="${CC:-cc}"
warnings=(-std=c11 -Wall -Wextra -Werror)

if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build-native: no C compiler ('$cc') found. The LUO helper (native/luo-helper.c) needs one:" >&2
  echo "  install gcc or clang (Debian/Ubuntu: apt-get install gcc), or set CC=/path/to/compiler." >&2
  exit 1
fi

# build OUT SOURCE FLAGS...: compiles SOURCE into OUT unless OUT is newer than SOURCE and this script.
build() {
  local out="$1" source="$2"
  shift 2
  if [[ -x "$out" && "$out" -nt "$source" && "$out" -nt "${BASH_SOURCE[0]}" ]]; then
    return 0
  fi
  mkdir -p "$(dirname "$out")"
  local tmp
  tmp="$(mktemp "$(dirname "$out")/.build.XXXXXX")"
  trap 'rm -f "$tmp"' EXIT
  "$cc" "$@" -o "$tmp" "$source"
  chmod 755 "$tmp"
  mv -f "$tmp" "$out"
  trap - EXIT
  echo "build-native: built $out"
}

case "${1:-}" in
  "")
    build "$root/native/build/luo-helper" "$src" "${warnings[@]}" -O2
    ;;
  --sanitize)
    dir="$root/native/build/sanitize"
    build "$dir/luo-helper" "$src" "${warnings[@]}" -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
    build "$dir/fake-luo.so" "$root/test/native/fake-luo.c" "${warnings[@]}" -O1 -g -shared -fPIC -ldl
    ;;
  *)
    echo "usage: build-native.sh [--sanitize]" >&2
    exit 2
    ;;
esac
