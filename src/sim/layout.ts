// Pure layout of a simulated fleet: node names, zones, topology mix, labels and where each node lives on disk.
//
//   <dir>/kernels.json            release -> { image, sha256 } of the images --kernels installed (a plan names them)
//   <dir>/images/vmlinuz-<R>      the kernel images, shared by every node (see fleet.ts for why)
//   <dir>/<node>/                 the node's SimHost dir (sysfs, proc, state.json, kmsg.log)
//   <dir>/<node>/images           symlink to ../images: the SimHost's default image dir resolves to the shared one
//   <dir>/<node>/agent-state/     the agent's --state-dir (its journal)
//   <dir>/<node>/agent.log        the agent's stderr, appended across restarts
import path from 'node:path';
import { layoutTopology, type Topology } from '../host/sim/topology';

export const DEFAULT_PREFIX = 'sim-node';
export const ZONES = ['zone-a', 'zone-b', 'zone-c'] as const;

/**
 * The role label the example plans (manifests/examples/gpu-fleet.yaml) select hypervisors by. A `node-role.*` key
 * under our own domain: the kubernetes.io/ node-role prefix is reserved to the cluster's own tooling.
 */
export const HYPERVISOR_LABEL = 'node-role.example.com/hypervisor';
export const TOPOLOGY_LABEL = 'liveupdate.dev/sim-topology';

export interface NamedTopology {
  /** Shown in the node's TOPOLOGY_LABEL: a label value (file name without .json for files). */
  name: string;
  topology: Topology;
}

export interface NodePaths {
  /** The SimHost dir (agent --sim-dir). */
  simDir: string;
  /** The agent's --state-dir. */
  stateDir: string;
  /** The shared image dir (agent --image-dir). */
  imageDir: string;
  log: string;
}

/** Names prefix-01 … prefix-N, zero-padded to the width of N (at least two digits) so they sort in order. */
export function nodeNames(count: number, prefix = DEFAULT_PREFIX): string[] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`node count must be a whole number >= 1, got ${count}`);
  const width = Math.max(2, String(count).length);
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(width, '0')}`);
}

/** Round robin over the three zones, so every zone has nodes as soon as there are three. */
export const zoneOf = (index: number): string => ZONES[index % ZONES.length]!;

/** Round robin over the mix: node i gets mix[i mod length]. */
export function topologyOf<T>(mix: readonly T[], index: number): T {
  if (mix.length === 0) throw new Error('the topology mix is empty');
  return mix[index % mix.length]!;
}

export function nodePaths(fleetDir: string, node: string): NodePaths {
  const simDir = path.join(fleetDir, node);
  return { simDir, stateDir: path.join(simDir, 'agent-state'), imageDir: sharedImageDir(fleetDir), log: path.join(simDir, 'agent.log') };
}

export const sharedImageDir = (fleetDir: string): string => path.join(fleetDir, 'images');

/**
 * The labels a provisioned hypervisor would carry: hostname, zone, role, and the feature labels device discovery
 * (NFD, NVIDIA GPU feature discovery) would add, so the example plans' selectors find the simulated nodes.
 */
export function nodeLabels(node: string, index: number, topology: NamedTopology): Record<string, string> {
  const devices = layoutTopology(topology.topology).devices;
  const has = (vendor: string, device: string) => devices.some((d) => d.vendor === vendor && d.device === device);
  return {
    'kubernetes.io/hostname': node,
    'kubernetes.io/os': 'linux',
    'topology.kubernetes.io/zone': zoneOf(index),
    [HYPERVISOR_LABEL]: 'true',
    [TOPOLOGY_LABEL]: topology.name,
    ...(has('10de', '2330') ? { 'nvidia.com/gpu.product': 'H100-SXM5-80GB' } : {}),
    ...(devices.some((d) => d.virtualFunction && d.vendor === '8086' && d.device === '1457') ? { 'storage.example.com/nvme-vf': 'true' } : {}),
  };
}
