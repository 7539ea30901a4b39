// The inventory as the agent reports it (pure). Nothing is dropped without a word: every function is listed or
// counted, and a host past a bound says so in inventoryIncomplete, which makes the operator skip it.
import { DEVICE_LIMITS, type LiveUpdateNodeStatus } from '../api/node';
import type { Inventory, PciDevice } from '../host/types';

type DeviceReport = Pick<LiveUpdateNodeStatus, 'devices' | 'otherDevices' | 'inventoryIncomplete'>;
type OtherDevices = NonNullable<LiveUpdateNodeStatus['otherDevices']>[number];

const toStatus = (d: PciDevice): NonNullable<LiveUpdateNodeStatus['devices']>[number] => ({
  bdf: d.bdf,
  vendor: d.vendor,
  device: d.device,
  class: d.class,
  ...(d.driver ? { driver: d.driver } : {}),
  ...(d.iommuGroup ? { iommuGroup: d.iommuGroup } : {}),
  busMaster: d.busMaster,
  inUse: d.inUse,
  upstream: d.upstream,
  ...(d.physfn ? { physfn: d.physfn } : {}),
});

/** Only an endpoint on vfio-pci can be preserved (pci/preservation.ts): those and their bridges are what a plan may request. */
function requestable(devices: readonly PciDevice[]): Set<string> {
  const out = new Set<string>();
  for (const d of devices)
    if (!d.bridge && d.driver === 'vfio-pci') {
      out.add(d.bdf);
      for (const up of d.upstream) out.add(up);
    }
  return out;
}

/** The unlisted functions by kind, in a stable order (an unchanged host must give an unchanged status). */
function countByKind(devices: readonly PciDevice[]): OtherDevices[] {
  const kinds = new Map<string, OtherDevices>();
  for (const d of devices) {
    const key = `${d.vendor}:${d.device}:${d.class}:${d.driver ?? ''}`;
    const kind = kinds.get(key);
    if (kind) kind.count++;
    else kinds.set(key, { vendor: d.vendor, device: d.device, class: d.class, ...(d.driver ? { driver: d.driver } : {}), count: 1 });
  }
  return [...kinds.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, kind]) => kind);
}

export function deviceReport(inventory: Inventory): DeviceReport {
  const all = inventory.devices;
  if (all.length <= DEVICE_LIMITS.devices) return { devices: all.map(toStatus) };
  const wanted = requestable(all);
  const candidates = all.filter((d) => wanted.has(d.bdf));
  const listed = candidates.slice(0, DEVICE_LIMITS.devices);
  const shown = new Set(listed.map((d) => d.bdf));
  const kinds = countByKind(all.filter((d) => !shown.has(d.bdf)));
  const problems: string[] = [];
  if (candidates.length > listed.length)
    problems.push(`${candidates.length} functions are on vfio-pci or bridges above one, more than status.devices holds (${DEVICE_LIMITS.devices})`);
  if (kinds.length > DEVICE_LIMITS.otherDeviceKinds)
    problems.push(`the other functions are of ${kinds.length} kinds, more than status.otherDevices holds (${DEVICE_LIMITS.otherDeviceKinds})`);
  const report: DeviceReport = { devices: listed.map(toStatus) };
  if (kinds.length > 0) report.otherDevices = kinds.slice(0, DEVICE_LIMITS.otherDeviceKinds);
  if (problems.length > 0) report.inventoryIncomplete = `${all.length} PCI functions: ${problems.join('; ')}; plans skip this node`.slice(0, 512);
  return report;
}
