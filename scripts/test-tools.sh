#!/usr/bin/env bash
# Debian tools the unit suite runs beside Node: valgrind (the native helper under memcheck). Installed with apt when
# root and missing, else the exact command is printed. The kernel lane provisions its own (scripts/kernel/provision.sh).
set -euo pipefail
declare -A needs=([valgrind]=valgrind)
missing=()
for cmd in "${!needs[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("${needs[$cmd]}"); done
((${#missing[@]} == 0)) && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "test-tools: missing Debian packages. Run as root:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "test-tools: installing ${missing[*]}" >&2
# A fresh machine's package lists may be empty or old: refresh them once if the first try fails.
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
  { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
