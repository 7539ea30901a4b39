// liveupdate sim node: prepare one simulated node dir (sysfs, proc, images, LUO state) without starting anything.
import path from 'node:path';
import type { SimLuoApi } from '../host/sim/kernel';
import { installKernels } from '../sim/kernels';
import type { NamedTopology } from '../sim/layout';
import { DEFAULT_RELEASE, loadNamedTopology, parseApi, prepareNode, SIM_APIS } from '../sim/prepare';
import { parseOptions, UsageError } from './usage';

const HELP = `usage: liveupdate sim node --topology FILE --dir DIR [--release R] [--api ${SIM_APIS.join('|')}] [--kernels R1,R2]

Creates the simulated node in DIR (the agent's --sim-dir; its journal goes to DIR/agent-state) running release R
(default ${DEFAULT_RELEASE}) with that LUO model (default mainline). --kernels installs DIR/images/vmlinuz-<R> for each
release and writes DIR/kernels.json (release -> image path and sha256). An existing node is left as it is.
`;

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

export async function run(argv: string[]): Promise<number> {
  const { values } = parseOptions({
    args: argv,
    options: {
      topology: { type: 'string' },
      dir: { type: 'string' },
      release: { type: 'string' },
      api: { type: 'string' },
      kernels: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.topology) throw new UsageError(`--topology is required\n\n${HELP}`);
  if (!values.dir) throw new UsageError(`--dir is required\n\n${HELP}`);
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
