#!/usr/bin/env bash
# Everything the real-kernel lane needs on this machine, cached: Debian tools (installed with apt when root, else
# the exact command is printed), the kernel source (private apt configuration, see fetch-source.sh) and the kernel +
# LUO selftests built once per (version, config fragment) (build.sh). Prints the build directory.
# Usage: provision.sh [series]   (default 7.2)
set -euo pipefail
series=${1:-7.2}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/liveupdate-operator/kernel

# command or file that proves the package is there -> Debian package
declare -A needs=(
  [qemu-system-x86_64]=qemu-system-x86 [kexec]=kexec-tools [/bin/busybox]=busybox-static [flex]=flex [bison]=bison
  [/usr/include/libelf.h]=libelf-dev [cpio]=cpio [bc]=bc [mke2fs]=e2fsprogs [make]=make [gcc]=gcc
  [/usr/include/openssl/ssl.h]=libssl-dev [dpkg-deb]=dpkg [apt-get]=apt
)
missing=()
for probe in "${!needs[@]}"; do
  if [[ $probe == /* ]]; then [[ -e $probe ]] && continue
  else PATH=$PATH:/usr/sbin:/sbin command -v "$probe" >/dev/null 2>&1 && continue
  fi
  missing+=("${needs[$probe]}")
done
# busybox must be the static build: it runs before the guest has mounted its libraries.
if [[ $(ldd /bin/busybox 2>&1 || true) != *'not a dynamic executable'* ]]; then missing+=(busybox-static); fi
if ((${#missing[@]} > 0)); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [[ $(id -u) -eq 0 ]]; then
    echo "provision: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
  else
    echo "provision: missing Debian packages. Run as root:" >&2
    echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

src=$(bash "$here/fetch-source.sh" "$cache" "$series")
bash "$here/build.sh" "$cache" "$src"
