#!/usr/bin/env bash
# Downloads Debian's linux-source-<series> .deb through a private apt configuration (own sources list, state and
# cache directories under the cache dir) so the machine's apt sources are never changed, and unpacks the tarball.
# Prints the unpacked source directory. Usage: fetch-source.sh <cache-dir> <series>   (e.g. 7.2)
set -euo pipefail
cache=$1 series=$2
pkg=linux-source-$series
aptdir=$cache/apt
srcroot=$cache/source

# The Debian mirror the machine already uses (deb822 or one-line format); sid lives on the same mirror.
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
  grep -oE '^(URIs:|deb)[[:space:]]+https?://[^[:space:]]+/debian/?([[:space:]]|$)' | awk 'NR == 1 {print $2}' || true)
mirror=${mirror:-http://deb.debian.org/debian}

mkdir -p "$aptdir/etc/preferences.d" "$aptdir/etc/sources.list.d" "$aptdir/state/lists/partial" \
  "$aptdir/cache/archives/partial" "$aptdir/debs"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/} sid main" > "$aptdir/etc/sources.list"
apt_private=(
  -o "Dir::Etc::SourceList=$aptdir/etc/sources.list"
  -o "Dir::Etc::SourceParts=$aptdir/etc/sources.list.d"
  -o "Dir::Etc::Preferences=$aptdir/etc/preferences"
  -o "Dir::Etc::PreferencesParts=$aptdir/etc/preferences.d"
  -o "Dir::State=$aptdir/state"
  -o "Dir::State::status=$aptdir/state/status"
  -o "Dir::Cache=$aptdir/cache"
  -o "APT::Get::List-Cleanup=0"
)
# As root apt drops to _apt for downloads, which cannot write into this cache: stay root (nothing is installed).
if [[ $(id -u) -eq 0 ]]; then apt_private+=(-o "APT::Sandbox::User=root"); fi
touch "$aptdir/state/status"

deb=$(ls "$aptdir/debs/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
if [[ -z $deb ]]; then
  echo "fetch-source: apt-get update (private, sid on $mirror)" >&2
  apt-get "${apt_private[@]}" -qq update >&2
  (cd "$aptdir/debs" && apt-get "${apt_private[@]}" -qq download "$pkg" >&2)
  deb=$(ls "$aptdir/debs/${pkg}_"*.deb | head -n1)
fi
version=$(dpkg-deb -f "$deb" Version)
dir=$srcroot/$version/linux-source-$series
if [[ ! -f $dir/Makefile ]]; then
  echo "fetch-source: unpacking $deb" >&2
  tmp=$(mktemp -d "$srcroot.tmp.XXXXXX")
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "./usr/src/$pkg.tar.*"
  mkdir -p "$tmp/unpacked"
  tar -x -C "$tmp/unpacked" -f "$tmp/usr/src/$pkg".tar.*
  mkdir -p "$srcroot/$version"
  rm -rf "$dir"
  mv "$tmp/unpacked/linux-source-$series" "$dir"
  rm -rf "$tmp"
fi
echo "$dir"
