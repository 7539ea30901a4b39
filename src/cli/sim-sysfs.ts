// liveupdate sim sysfs: write a fake sysfs tree (kernel layout) from a topology file.
import { loadTopologyFile, TopologyError, type Topology } from '../host/sim/topology';
import { writeSysfsTree } from '../host/sim/sysfs-tree';
import { UsageError } from './usage';

export interface SimSysfsOptions {
  topology?: string;
  out?: string;
}

export async function run(values: SimSysfsOptions): Promise<number> {
  if (!values.topology || !values.out) throw new UsageError('usage: liveupdate sim sysfs --topology FILE --out DIR');
  let topology: Topology;
  try {
    topology = await loadTopologyFile(values.topology);
  } catch (err) {
    if (!(err instanceof TopologyError) && !(err instanceof Error && 'code' in err)) throw err;
    process.stderr.write(`liveupdate sim sysfs: ${err.message}\n`);
    return 2;
  }
  const devices = await writeSysfsTree(topology, values.out);
  const vfio = devices.filter((d) => d.driver === 'vfio-pci').length;
  process.stdout.write(`${values.out}: ${devices.length} PCI functions (${vfio} bound to vfio-pci) from ${values.topology}\n`);
  return 0;
}
