// A throwaway simulated node for tests: sim dir in tmp, a loadable kernel image, reopen = agent restart.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SimHost, type SimHostOptions } from '../../../src/host/sim/host';
import { loadTopologyFile, type Topology } from '../../../src/host/sim/topology';
import type { KernelImage } from '../../../src/host/types';

export const key = { planUid: '0b8a5d7e-1c2f-4e3a-9d6b-7f8e9a0b1c2d', node: 'node-a', attempt: 1 };

export function seedTopology(): Promise<Topology> {
  return loadTopologyFile(path.resolve(__dirname, '../../../src/host/sim/topologies/nvme-sriov.json'));
}

export interface SimNode {
  dir: string;
  image: KernelImage;
  open(): Promise<SimHost>;
  reboots: number;
  crashes: string[];
  now: number;
}

/** `faults`, when given, become node-a's list in <dir>/faults.json, the node's fault file. */
export async function simNode(topology: Topology, options: Partial<SimHostOptions> = {}, faults?: unknown[]): Promise<SimNode> {
  const dir = await mkdtemp(path.join(tmpdir(), 'simhost-'));
  if (faults) {
    options = { ...options, faultFile: path.join(dir, 'faults.json') };
    await writeFile(options.faultFile!, JSON.stringify({ nodes: { 'node-a': faults } }));
  }
  const node: SimNode = {
    dir,
    reboots: 0,
    crashes: [],
    now: 1_000,
    image: { image: path.join(dir, 'images/vmlinuz-6.19.3-sim'), sha256: '', cmdline: { append: ['liveupdate=on'], remove: [], reuse: true } },
    open: () =>
      SimHost.open({
        dir,
        node: 'node-a',
        topology,
        clock: () => node.now,
        onReboot: () => node.reboots++,
        onCrash: (phase) => node.crashes.push(phase),
        ...options,
      }),
  };
  await node.open(); // first boot creates the tree and the images dir
  await writeFile(node.image.image, 'new kernel');
  node.image.sha256 = createHash('sha256').update('new kernel').digest('hex');
  return node;
}

export async function kmsg(dir: string): Promise<string> {
  return readFile(path.join(dir, 'kmsg.log'), 'utf8').catch(() => '');
}
