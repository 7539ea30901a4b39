// liveupdate sim node: prepare one simulated node dir (sysfs, proc, images, LUO state) without starting anything.
import path from 'node:path';
import type { SimLuoApi } from '../host/sim/kernel';
import { installKernels } from '../sim/kernels';
import type { NamedTopology } from '../sim/layout';
import { loadNamedTopology, parseApi, prepareNode } from '../sim/prepare';
import { UsageError } from './usage';

/** The comma-separated values of a flag, empty ones dropped. */
export const splitList = (value: string | undefined): string[] => (value ?? '').split(',').map((v) => v.trim()).filter((v) => v !== '');

export function apiFlag(value: string | undefined): SimLuoApi | undefined {
  if (value === undefined) return undefined;
  try {
    return parseApi(value);
  } catch (err) {
    throw new UsageError(`--api: ${(err as Error).message}`);
  }
}

/** Loads a topology file named by `flag`; a missing or malformed file is a usage error naming both. */
export async function topologyFlag(flag: string, file: string): Promise<NamedTopology> {
  try {
    return await loadNamedTopology(file);
  } catch (err) {
    throw new UsageError(`${flag} ${file}: ${(err as Error).message}`);
  }
}

export interface SimNodeOptions {
  topology?: string;
  dir?: string;
  release?: string;
  api?: string;
  kernels?: string;
}

export async function run(values: SimNodeOptions): Promise<number> {
  if (!values.topology) throw new UsageError('sim node: --topology FILE is required');
  if (!values.dir) throw new UsageError('sim node: --dir DIR is required');
  const api = apiFlag(values.api);
  const { topology, name } = await topologyFlag('--topology', values.topology);
  const dir = path.resolve(values.dir);
  const created = await prepareNode({ dir, node: path.basename(dir), topology, api, release: values.release });
  const releases = splitList(values.kernels);
  const kernels = releases.length > 0 ? await installKernels(path.join(dir, 'images'), dir, releases) : {};
  const what = created ? `simulated node created from topology ${name}` : 'simulated node already exists, left as it is';
  const images = Object.entries(kernels).map(([release, k]) => `\n  ${release}: ${k.image} sha256 ${k.sha256}`);
  process.stdout.write(`${dir}: ${what}${images.length ? `; kernels (${path.join(dir, 'kernels.json')}):${images.join('')}` : ''}\n`);
  return 0;
}
