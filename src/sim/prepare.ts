// Preparing simulated nodes on disk, without starting anything: `liveupdate sim node`, and the fleet before it
// starts its agents.
import { access, mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { SimHost, type BindAfterKexec } from '../host/sim/host';
import type { SimLuoApi } from '../host/sim/kernel';
import { loadTopologyFile, parseTopology, type Topology } from '../host/sim/topology';
import { projectPath } from '../util/package-root';
import type { NamedTopology } from './layout';

export const SIM_APIS: readonly SimLuoApi[] = ['mainline', 'legacy', 'none'];
export const DEFAULT_RELEASE = '6.19.0-sim';

export function parseApi(value: string): SimLuoApi {
  const api = SIM_APIS.find((a) => a === value);
  if (!api) throw new Error(`unknown LUO api ${JSON.stringify(value)}: expected one of ${SIM_APIS.join(', ')}`);
  return api;
}

export interface PrepareNodeOptions {
  /** The node's sim dir. */
  dir: string;
  node: string;
  topology: Topology;
  api?: SimLuoApi;
  release?: string;
  /** A shared image dir: the node's images/ becomes a symlink to it. Default: the node's own images/. */
  sharedImageDir?: string;
  /** The simulated kernel series: can it preserve VFIO fds (Linux 7.2 cannot), who binds drivers after kexec. */
  vfioPreservation?: boolean;
  bindAfterKexec?: BindAfterKexec;
}

/**
 * Creates the node's sim dir (sysfs, proc, images, state) and its agent-state dir. A node that already exists is
 * left as it is (its kernel, LUO state and faults fired survive a restart of the fleet); returns whether it was new.
 */
export async function prepareNode(options: PrepareNodeOptions): Promise<boolean> {
  const { dir } = options;
  await mkdir(path.join(dir, 'agent-state'), { recursive: true });
  if (await exists(path.join(dir, 'state.json'))) return false;
  if (options.sharedImageDir) {
    await mkdir(options.sharedImageDir, { recursive: true });
    await symlink(path.relative(dir, options.sharedImageDir), path.join(dir, 'images')).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  // The first open writes the tree; this "boot" holds no LUO session, so nothing is lost when it goes away.
  await SimHost.open({
    dir,
    node: options.node,
    topology: options.topology,
    api: options.api,
    release: options.release ?? DEFAULT_RELEASE,
    vfioPreservation: options.vfioPreservation,
    bindAfterKexec: options.bindAfterKexec,
  });
  return true;
}

const exists = (file: string): Promise<boolean> =>
  access(file).then(
    () => true,
    () => false,
  );

/** A hypervisor with no passthrough device: only a boot NVMe on the host's own driver (plans must skip or update it). */
export const NO_PASSTHROUGH: NamedTopology = {
  name: 'no-passthrough',
  topology: parseTopology(
    {
      name: 'no-passthrough',
      description: 'Hypervisor without passthrough devices: one boot NVMe (nvme driver) behind a root port.',
      roots: [{ bus: '00', ports: [{ slot: '01.0', vendor: '8086', device: '347a', devices: [{ kind: 'endpoint', vendor: '144d', device: 'a80a', class: '010802', driver: 'nvme' }] }] }],
    },
    'no-passthrough',
  ),
};

/** A topology file, named by its file name without .json made a valid label value. */
export async function loadNamedTopology(file: string): Promise<NamedTopology> {
  const name = path
    .basename(file, '.json')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return { name, topology: await loadTopologyFile(file) };
}

/** The default mix: the three shipped passthrough hosts and one without passthrough devices, round robin. */
export async function defaultTopologyMix(): Promise<NamedTopology[]> {
  const shipped = ['gpu8', 'nvme-sriov', 'mixed-switch'].map((name) => projectPath('src', 'host', 'sim', 'topologies', `${name}.json`));
  return [...(await Promise.all(shipped.map(loadNamedTopology))), NO_PASSTHROUGH];
}
