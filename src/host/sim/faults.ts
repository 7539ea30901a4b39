// Fault injection for simulated hosts, from a JSON file the e2e tests and the demo write (and may rewrite while
// agents run: the file is read again at every check).
//
// Format:
//   {
//     "nodes": {
//       "<node name>" | "*": [            // "*" applies to every node, after the node's own list
//         { "kind": "prepare-error", "device": "0000:05:00.1", "errno": "EBUSY" },  // prepare fails on that BDF
//         { "kind": "kexec-load-error", "message": "..." },                          // kexec load is refused
//         { "kind": "never-returns" },           // the kexec happens, the node never boots again (NodeLost)
//         { "kind": "panic-on-boot" },           // the new kernel panics while booting: the node stays down
//         { "kind": "cold-reboot" },             // firmware reset into the OLD kernel: new boot id, no LUO data
//         { "kind": "bus-master-lost", "devices": ["0000:05:00.1"] },  // cleared after kexec (default: all preserved)
//         { "kind": "freeze-error", "errno": "EBUSY" },   // reboot(KEXEC) fails in freeze: LUO cancelled, old kernel
//         { "kind": "finish-error", "errno": "EIO" },                  // finish fails, preserved state stays
//         { "kind": "native-driver-after-kexec", "device": "0000:05:00.1", "driver": "nvme" },
//             // that preserved endpoint comes back bound to a native driver (default by class: nvme for 0108xx,
//             // nouveau for 03xxxx, else pci-stub): not on vfio-pci, its fd is not retrievable (DriverChanged)
//         { "kind": "agent-crash", "phase": "prepare", "when": "before" },  // the agent process dies at that step
//         { "kind": "slow-step", "phase": "prepare", "ms": 3000 },         // that host operation takes ms longer
//         { "kind": "helper-crash" }   // the LUO session holder (luo-helper) dies right after prepare; the next LUO
//                                      // call gets a fresh one, as on Linux: the session is gone (HelperLost)
//       ]
//     }
//   }
// Every fault also takes "times": N (fire N times, then stop; default: every time). Phases of agent-crash are the
// host operations: prepare | cancel | load | execute | retrieve | finish; "when" is before (default) or after it.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { formatFieldPath } from '../../util/field-path';
import { BDF_PATTERN } from '../../pci/bdf';

const bdf = z.string().regex(BDF_PATTERN, 'expected a PCI address like "0000:05:00.1"');
const times = z.number().int().positive().optional();
export const hostPhases = ['prepare', 'cancel', 'load', 'execute', 'retrieve', 'finish'] as const;
export type HostPhase = (typeof hostPhases)[number];

const fault = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('prepare-error'), device: bdf, errno: z.enum(['EBUSY', 'EINVAL', 'EIO', 'ENODEV']).default('EIO'), times }),
  z.strictObject({ kind: z.literal('kexec-load-error'), message: z.string().default('kexec_file_load failed: Operation not permitted'), times }),
  z.strictObject({ kind: z.literal('never-returns'), times }),
  z.strictObject({ kind: z.literal('panic-on-boot'), times }),
  z.strictObject({ kind: z.literal('cold-reboot'), times }),
  z.strictObject({ kind: z.literal('bus-master-lost'), devices: z.array(bdf).optional(), times }),
  z.strictObject({ kind: z.literal('freeze-error'), errno: z.enum(['EBUSY', 'EIO', 'EINVAL']).default('EBUSY'), times }),
  z.strictObject({ kind: z.literal('finish-error'), errno: z.enum(['EIO', 'EBUSY', 'EINVAL']).default('EIO'), times }),
  z.strictObject({ kind: z.literal('native-driver-after-kexec'), device: bdf, driver: z.string().regex(/^[A-Za-z0-9_-]+$/).refine((d) => d !== 'vfio-pci', 'a native driver, not vfio-pci').optional(), times }),
  z.strictObject({ kind: z.literal('agent-crash'), phase: z.enum(hostPhases), when: z.enum(['before', 'after']).default('before'), times }),
  z.strictObject({ kind: z.literal('slow-step'), phase: z.enum(hostPhases), ms: z.number().int().positive().max(600_000), times }),
  z.strictObject({ kind: z.literal('helper-crash'), times }),
]);

export const faultFileSchema = z.strictObject({ nodes: z.record(z.string().min(1), z.array(fault)) });

export type Fault = z.output<typeof fault>;
export type FaultFile = z.output<typeof faultFileSchema>;
export type FaultKind = Fault['kind'];

export class FaultFileError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`${source}: invalid fault file:\n  ${issues.join('\n  ')}`);
    this.name = 'FaultFileError';
  }
}


export function parseFaults(value: unknown, source = 'faults'): FaultFile {
  const result = faultFileSchema.safeParse(value);
  if (result.success) return result.data;
  throw new FaultFileError(source, result.error.issues.map((i) => `${formatFieldPath(i.path, 'faults')}: ${i.message}`));
}

export async function loadFaultFile(file: string): Promise<FaultFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { nodes: {} }; // no file: no faults
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FaultFileError(file, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseFaults(value, file);
}

/** A fault's identity for counting how often it fired: node list and index, stable while the file is unchanged. */
export interface ArmedFault {
  id: string;
  fault: Fault;
}

/** The node's faults (its own first, then "*"), minus those that already fired `times` times. */
export function armedFaults(file: FaultFile, node: string, fired: Record<string, number>): ArmedFault[] {
  const lists: [string, Fault[]][] = [[node, file.nodes[node] ?? []], ['*', node === '*' ? [] : (file.nodes['*'] ?? [])]];
  return lists.flatMap(([owner, faults]) =>
    faults
      .map((f, i) => ({ id: `${owner}#${i}:${f.kind}`, fault: f }))
      .filter(({ id, fault: f }) => f.times === undefined || (fired[id] ?? 0) < f.times),
  );
}
