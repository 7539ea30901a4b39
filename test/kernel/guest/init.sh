#!/bin/busybox sh
# /init of the kernel lane's guest (busybox). The NVMe namespace (/dev/nvme0n1, ext2) carries the Node payload,
# the kernels to kexec and the state that must survive kexec. lu.step= on the command line says which boot this is:
#   1  peer selftests (+ their kexec pairs' stage 1), stage 1 setup, then a plain `kexec -e` into step 2
#   2  selftests' stage 2, stage 1 checks, then the agent (stage 2), which kexecs into step 3 itself
#   3  the agent again, verifying its live update
# Every result is one console line `LANE PASS|FAIL <step> [json]` that the host-side test asserts; `LANE INFO` and
# `LANE DATA` lines carry facts. The test ends the guest (it kills QEMU); a failing shell step powers it off.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The initramfs has no /dev/console node: the kernel started us without stdio.
exec 0</dev/console 1>/dev/console 2>&1
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
# Kernel messages stay in dmesg; only warnings and worse interleave with the LANE lines on the console.
dmesg -n 4

lane() { echo "LANE $*"; }
die() { lane FAIL "$1" "\"$2\""; sync; poweroff -f; }

step=$(sed -n 's/.*lu\.step=\([0-9]*\).*/\1/p' /proc/cmdline)
lane INFO boot "{\"step\":$step,\"bootId\":\"$(cat /proc/sys/kernel/random/boot_id)\",\"release\":\"$(uname -r)\"}"

for _ in $(seq 100); do [ -b /dev/nvme0n1 ] && break; sleep 0.1; done
mkdir -p /lu
mount -t ext2 /dev/nvme0n1 /lu || die mount "no /dev/nvme0n1 to mount"
# Dynamic binaries (node, kexec, luo-helper) find their libraries in the initramfs' /lib and /lib64.
export PATH=/lu/bin:/bin:/sbin HOME=/tmp LIVEUPDATE_LUO_HELPER=/lu/native/build/luo-helper
. /lu/lane.env
node="node /lu/dist/test/kernel/guest/steps.js"

ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2

# A selftest binary's exit status is its verdict (kselftest: 0 pass, 4 skip counts as failure here).
selftest() {
  name=$1
  shift
  "/lu/selftests/$name" "$@" >/tmp/selftest.log 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then lane PASS "peer.$name$STAGE"; else
    cat /tmp/selftest.log
    lane FAIL "peer.$name$STAGE" "\"exit $rc\""
  fi
}

kexec_into() {
  args=$(sed "s/lu\.step=[0-9]*/lu.step=$1/" /proc/cmdline)
  kexec -l -s /lu/boot/bzImage --initrd=/lu/boot/initramfs.cpio --append="$args" || die kexec.load "kexec -l failed"
  sync
  lane INFO kexec "{\"into\":$1}"
  kexec -e
  die kexec.exec "kexec -e returned"
}

# The kernel's own word that KHO / LUO data arrived in this boot.
handover_dmesg() {
  lane DATA dmesg "\"$(dmesg | grep -E 'KHO: found kexec handover data|luo: Retrieved live update data' | tr -d '"\n' | cut -c1-400)\""
}

# The agent runs until its kexec replaces this kernel (or the test ends the guest): returning is a failure.
start_agent() {
  lane INFO agent-start
  node /lu/dist/src/cli/main.js agent --host linux --node "$LANE_NODE" --kubeconfig /lu/kubeconfig \
    --state-dir /lu/state/agent --image-dir /lu/boot --inventory-interval 2
  die agent "the agent exited with $?"
}

case "$step" in
1)
  STAGE='' selftest liveupdate
  STAGE=.stage1 selftest luo_kexec_simple --stage 1
  STAGE=.stage1 selftest luo_multi_session --stage 1
  # The doomed holder prepares a session and dies (SIGKILL) before kexec: its helper sees EOF and exits.
  $node doomed
  for _ in $(seq 100); do pidof luo-helper >/dev/null || break; sleep 0.1; done
  # Agreement, detection, the vfio-pci device armed, then the held session: that process stays alive to kexec.
  $node boot1 &
  for _ in $(seq 600); do [ -e /tmp/held ] && break; sleep 0.1; done
  [ -e /tmp/held ] || die stage1.hold "the holder never reported its session held"
  lane DATA inspect "$(node /lu/dist/src/cli/main.js host inspect --json | tr -d '\n')"
  kexec_into 2
  ;;
2)
  STAGE=.stage2 selftest luo_kexec_simple --stage 2
  STAGE=.stage2 selftest luo_multi_session --stage 2
  handover_dmesg
  $node boot2
  start_agent
  ;;
3)
  handover_dmesg
  start_agent
  ;;
*)
  die boot "no lu.step= on the command line"
  ;;
esac
