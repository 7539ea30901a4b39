// liveupdate host inspect: the PCI inventory of this host and the preservation plan a live update would use.
import { readPciInventory, UnreadableRootError } from '../host/linux/pci';
import { planPreservation, type DeviceId } from '../pci/preservation';
import { parseDeviceId } from '../host/pci/sysfs-values';
import type { Inventory, PreservationPlan } from '../host/types';
import { UsageError } from './usage';

/** The JSON contract of `host inspect --json` (issue 4); extra fields after the contract's. */
export function inspectReport(inventory: Inventory, plan: PreservationPlan) {
  return {
    devices: inventory.devices.map((d) => ({
      bdf: d.bdf,
      vendor: d.vendor,
      device: d.device,
      class: d.class,
      driver: d.driver,
      busMaster: d.busMaster,
      bridge: d.bridge,
      upstream: d.upstream,
      iommuGroup: d.iommuGroup,
      physfn: d.physfn,
      inUse: d.inUse,
      driverOverride: d.driverOverride,
      virtfns: d.virtfns ?? [],
      vfioDevice: d.vfioDevice ?? null,
    })),
    preserve: plan.preserve.map((p) => ({ bdf: p.bdf, flags: p.flags, ...(p.physfn ? { physfn: p.physfn } : {}) })),
    errors: [...inventory.errors, ...plan.errors].map((e) => ({ bdf: e.bdf, reason: e.reason, message: e.message })),
    notes: plan.notes,
  };
}

type Report = ReturnType<typeof inspectReport>;

function alignedTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((cells) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function formatTable(report: Report): string {
  const flags = new Map(report.preserve.map((p) => [p.bdf, p.flags.join(',')]));
  const rows = report.devices.map((d) => [
    d.bdf,
    `${d.vendor}:${d.device}`,
    d.class,
    d.driver ?? '-',
    d.busMaster ? 'on' : 'off',
    d.bridge ? 'bridge' : d.physfn ? `vf of ${d.physfn}` : 'endpoint',
    d.iommuGroup ?? '-',
    d.inUse ? 'yes' : 'no',
    flags.get(d.bdf) ?? '-',
    d.upstream.join(' < ') || '-',
  ]);
  const header = ['BDF', 'ID', 'CLASS', 'DRIVER', 'BM', 'KIND', 'IOMMU', 'IN USE', 'PRESERVE', 'UPSTREAM (nearest first)'];
  const out = [report.devices.length > 0 ? alignedTable(header, rows) : 'no PCI devices found'];
  if (report.errors.length > 0)
    out.push('', 'errors:', alignedTable(['BDF', 'REASON', 'MESSAGE'], report.errors.map((e) => [e.bdf, e.reason, e.message])));
  if (report.notes.length > 0) out.push('', 'notes:', ...report.notes.map((n) => `  ${n}`));
  return `${out.join('\n')}\n`;
}

export interface HostInspectOptions {
  sysfsRoot: string;
  procRoot: string;
  match?: string[];
  json?: boolean;
}

export async function run(values: HostInspectOptions): Promise<number> {
  const match: DeviceId[] = (values.match ?? []).map((text) => {
    const id = parseDeviceId(text);
    if (!id) throw new UsageError(`--match "${text}": expected VENDOR:DEVICE as 4 hex digits each, e.g. 8086:1457`);
    return id;
  });

  let inventory: Inventory;
  try {
    inventory = await readPciInventory({ sysfsRoot: values.sysfsRoot, procRoot: values.procRoot });
  } catch (err) {
    if (!(err instanceof UnreadableRootError)) throw err;
    process.stderr.write(`liveupdate host inspect: ${err.message}\n`);
    return 2;
  }
  const report = inspectReport(inventory, planPreservation(inventory, { match }));
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report));
  return report.errors.length > 0 ? 1 : 0;
}
