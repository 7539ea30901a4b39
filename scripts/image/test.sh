#!/usr/bin/env bash
# Proves the daemonless image runs: builds it (warm: reuses the cache), unpacks it into a runtime bundle with umoci and
# runs containers from it under runc (IMAGE_RUNTIME=crun for crun), asserting on what each prints:
#   - the default command (`liveupdate --help`): the usage with the operator and agent commands, exit 0;
#   - `liveupdate operator --help` and `liveupdate agent --help`: their usage (loads each command and its dependencies);
#   - a probe in the image's Node: runs as 65532:65532, the Kubernetes client loads, the LUO helper executes
#     (--print-abi) and kexec (kexec-tools) executes;
#   - the shipped gpu8 topology written as a fake sysfs tree (`sim sysfs`) and read back by the Linux host layer
#     (`host inspect`): the data files and the sysfs reader work in the image, as non-root.
# IMAGE=<oci layout>:<tag> tests that image instead of building (e.g. the Dockerfile's, see dockerfile-check.sh).
# Needs root (runc creates namespaces) and: umoci, runc (apt-get install umoci runc) or crun.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
runtime="${IMAGE_RUNTIME:-runc}"
node24="$(readlink -f "$root/node_modules/.bin/node")"

fail() {
  echo "image/test: FAIL: $*" >&2
  exit 1
}
command -v "$runtime" >/dev/null 2>&1 || fail "'$runtime' not found (Debian: apt-get install $runtime)"

image="${IMAGE:-$(bash "$here/build.sh")}"
work="$(mktemp -d)"
ids=()
cleanup() {
  for id in "${ids[@]}"; do "$runtime" delete --force "$id" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

umoci unpack --image "$image" "$work/bundle" >/dev/null
entrypoint="$("$node24" -e 'const c = require(process.argv[1]); console.log(JSON.stringify(c.process.args))' "$work/bundle/config.json")"

# crun 1.8 refuses a hybrid cgroup hierarchy whose cgroup2 mount has controllers enabled ("cgroups in hybrid mode
# not supported, drop all controllers from cgroupv2"), as on this machine; detaching that mount in a private mount
# namespace of crun alone (cgroups disabled) lets it run. runc needs nothing.
if [[ "$runtime" == crun ]]; then
  launch=(unshare --mount --propagation private sh -c
    'if mountpoint -q /sys/fs/cgroup/unified; then umount -l /sys/fs/cgroup/unified; fi; exec crun --cgroup-manager=disabled run "$@"' crun)
else
  launch=("$runtime" run)
fi

# run NAME ARGS_JSON: runs a container from the bundle with process.args = ARGS_JSON; its stdout and stderr go to
# $work/NAME.out; returns its exit code.
n=0
run() {
  local name="$1" args="$2" id="liveupdate-image-test-$$-$((n += 1))"
  "$node24" -e '
    const fs = require("node:fs");
    const [file, args] = process.argv.slice(1);
    const config = JSON.parse(fs.readFileSync(file, "utf8"));
    config.process.args = JSON.parse(args);
    config.process.terminal = false; // stdout to our pipe, not a pty
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
  ' "$work/bundle/config.json" "$args"
  ids+=("$id")
  local code=0
  timeout --kill-after=5 60 "${launch[@]}" --bundle "$work/bundle" "$id" </dev/null >"$work/$name.out" 2>&1 || code=$?
  return "$code"
}

# The process.args (JSON) that run SCRIPT in the image's Node.
node_eval() {
  "$node24" -e 'console.log(JSON.stringify(["/usr/local/bin/node", "-e", process.argv[1]]))' "$1"
}

failed() {
  cat "$work/$1.out" >&2
  fail "$2 exited $3"
}

expect() {
  local name="$1" pattern="$2"
  grep -Eiq -- "$pattern" "$work/$name.out" || {
    cat "$work/$name.out" >&2
    fail "$name: output lacks /$pattern/"
  }
}

run help "$entrypoint" || failed help 'liveupdate --help' $?
expect help '^usage: liveupdate'
expect help '^ +operator\b'
expect help '^ +agent\b'
echo "image/test: ok  liveupdate --help (default command) under $runtime" >&2

main='["/usr/local/bin/node", "/app/dist/src/cli/main.js"'
for command in operator agent; do
  run "$command" "$main, \"$command\", \"--help\"]" ||
    failed "$command" "liveupdate $command --help" $?
  expect "$command" "^usage: liveupdate $command\\b"
  echo "image/test: ok  liveupdate $command --help" >&2
done

# shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
probe='
  const { execFileSync } = require("node:child_process");
  require("/app/node_modules/@kubernetes/client-node");
  const abi = JSON.parse(execFileSync("/app/native/build/luo-helper", ["--print-abi"], { encoding: "utf8" }));
  const kexec = execFileSync("kexec", ["--version"], { encoding: "utf8" }).trim();
  console.log(`uid=${process.getuid()} gid=${process.getgid()} node=${process.version}`);
  console.log(`luo-helper abi ok=${typeof abi.ioctl === "object"}`);
  console.log(`kexec=${kexec}`);
'
run probe "$(node_eval "$probe")" ||
  failed probe 'the probe' $?
expect probe '^uid=65532 gid=65532 node=v24\.'
expect probe '^luo-helper abi ok=true$'
expect probe '^kexec=kexec-tools '
echo "image/test: ok  runs as 65532:65532 on $(grep -o 'node=v[0-9.]*' "$work/probe.out"); client-node loads; luo-helper and kexec execute" >&2
# Needs one container for both steps: the tree is written to the container's /tmp.
sim='
  const { execFileSync } = require("node:child_process");
  const cli = (...args) => execFileSync(process.execPath, ["/app/dist/src/cli/main.js", ...args], { encoding: "utf8" });
  process.stdout.write(cli("sim", "sysfs", "--topology", "/app/src/host/sim/topologies/gpu8.json", "--out", "/tmp/sys"));
  process.stdout.write(cli("host", "inspect", "--sysfs-root", "/tmp/sys"));
'
run sim "$(node_eval "$sim")" ||
  failed sim 'sim sysfs + host inspect' $?
expect sim '26 PCI functions \(8 bound to vfio-pci\)'
expect sim '^0000:18:00\.0 +10de:2330 +030200 +vfio-pci +on +endpoint .* busmaster +0000:17:00\.0'
echo "image/test: ok  sim sysfs (shipped gpu8 topology) + host inspect: 8 GPUs preserved with their bridges" >&2
echo "image/test: PASS ($image)"
