// The preservation plan: which devices keep their bus-master bit across the kexec and with which flag.
// Mirrors the PCI core's list (LU_BUSMASTER on the endpoint, LU_BUSMASTER_BRIDGE on every bridge above it up to
// and including the root port): if any bridge on the way loses bus master, DMA of everything below it stops.
import { compareBdf } from './bdf';
import type { Bdf, DeviceError, Inventory, PciDevice, PreservationEntry, PreservationPlan } from './types';

export interface DeviceId {
  vendor: string;
  device: string;
}

/**
 * Default: endpoints bound to vfio-pci with bus master set. With `match`: the devices with those ids instead. With
 * `bdfs`: exactly those addresses (what the operator chose); an address not in the inventory is an error.
 */
export interface Selection {
  match?: DeviceId[];
  bdfs?: Bdf[];
}

function selectedDevices(inventory: Inventory, selection: Selection): PciDevice[] {
  if (selection.bdfs) {
    const wanted = new Set(selection.bdfs);
    return inventory.devices.filter((d) => wanted.has(d.bdf));
  }
  const match = selection.match;
  if (match === undefined || match.length === 0)
    return inventory.devices.filter((d) => !d.bridge && d.driver === 'vfio-pci' && d.busMaster);
  return inventory.devices.filter((d) => match.some((m) => m.vendor === d.vendor && m.device === d.device));
}

/** Why this endpoint cannot be preserved; empty when it can. */
function endpointProblems(d: PciDevice, byBdf: Map<Bdf, PciDevice>, unreadable: Set<Bdf>): DeviceError[] {
  const problem = (reason: string, message: string): DeviceError => ({ bdf: d.bdf, reason, message });
  if (d.bridge)
    return [problem('bridge-selected', `a bridge (class ${d.class}) is preserved only as busmaster-bridge above an endpoint`)];
  const problems: DeviceError[] = [];
  if (d.driver !== 'vfio-pci')
    problems.push(problem('not-vfio', `bound to ${d.driver ?? 'no driver'}, not vfio-pci: bind it to vfio-pci first`));
  if (!d.busMaster)
    problems.push(problem('busmaster-clear', 'bus master is clear, so there is no DMA to preserve (is its VM running?)'));
  for (const up of d.upstream) {
    const bridge = byBdf.get(up);
    if (bridge === undefined) {
      const why = unreadable.has(up) ? 'could not be read (see its own error)' : 'is not in the inventory';
      problems.push(problem('unresolved-chain', `bridge ${up} above it ${why}`));
    } else if (!bridge.bridge) {
      problems.push(problem('unresolved-chain', `${up} above it is not a PCI bridge (class ${bridge.class})`));
    } else if (!bridge.busMaster) {
      problems.push(problem('bridge-busmaster-clear', `bridge ${up} above it has bus master clear: its DMA is already blocked`));
    }
  }
  return problems;
}

/**
 * Pure: inventory + selection → plan. Every selected device is either preserved (with all its bridges) or an
 * error naming it and why. A bridge shared by several endpoints appears once; output is sorted by address.
 */
export function planPreservation(inventory: Inventory, selection: Selection = {}): PreservationPlan {
  const byBdf = new Map(inventory.devices.map((d) => [d.bdf, d]));
  const unreadable = new Set(inventory.errors.map((e) => e.bdf));
  const entries = new Map<Bdf, PreservationEntry>();
  const errors: DeviceError[] = [];
  const notes: string[] = [];

  for (const d of selectedDevices(inventory, selection)) {
    const problems = endpointProblems(d, byBdf, unreadable);
    if (problems.length > 0) {
      errors.push(...problems);
      continue;
    }
    entries.set(d.bdf, d.physfn === null ? { bdf: d.bdf, flags: ['busmaster'] } : { bdf: d.bdf, flags: ['busmaster'], physfn: d.physfn });
    for (const up of d.upstream) entries.set(up, { bdf: up, flags: ['busmaster-bridge'] });
    if (d.physfn !== null)
      notes.push(
        `${d.bdf} is an SR-IOV virtual function of ${d.physfn}: PCI phase I preserves it, but the newest mainline PCI live-update series rejects VFs`,
      );
  }
  for (const bdf of selection.bdfs ?? [])
    if (!byBdf.has(bdf)) errors.push({ bdf, reason: 'not-found', message: 'no such PCI device on this host' });
  for (const m of selection.match ?? [])
    if (!inventory.devices.some((d) => d.vendor === m.vendor && d.device === m.device))
      notes.push(`no device matches ${m.vendor}:${m.device}`);

  return {
    preserve: [...entries.values()].sort((a, b) => compareBdf(a.bdf, b.bdf)),
    errors: errors.sort((a, b) => compareBdf(a.bdf, b.bdf)),
    notes,
  };
}
