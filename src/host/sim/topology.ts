// Topology description of a simulated host: the PCI tree the fake sysfs is generated from.
// JSON on disk; every malformed field is reported with its path (e.g. topology.roots[0].ports[1].devices[2].vendor).
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { formatFieldPath } from '../../util/field-path';
import { formatBdf } from '../../pci/bdf';
import type { Bdf } from '../types';

const hex = (digits: number, example: string) =>
  z.string().regex(new RegExp(`^[0-9a-f]{${digits}}$`), `expected ${digits} lowercase hex digits like "${example}"`);

const slot = z
  .string()
  .regex(/^[01][0-9a-f]\.[0-7]$/, 'expected device.function like "01.0" (device 00-1f, function 0-7)')
  .describe('device.function on the parent bus; assigned in order when omitted');
const configSize = z.union([z.literal(256), z.literal(4096)]).default(4096).describe('conventional PCI 256, PCIe 4096');
const iommuGroup = z.number().int().nonnegative().optional().describe('shared by devices the IOMMU cannot isolate');
const endpointDriver = z.enum(['vfio-pci', 'nvme', 'nvidia', 'none']);
const bridgeDriver = z.enum(['pcieport', 'none']);

const virtualFunction = z.strictObject({
  slot: slot.optional(),
  driver: endpointDriver.default('none'),
  driverOverride: z.string().min(1).optional(),
  /** Defaults to on when a driver is bound. */
  busMaster: z.boolean().optional(),
  iommuGroup,
});

const endpoint = z.strictObject({
  kind: z.literal('endpoint'),
  slot: slot.optional(),
  vendor: hex(4, '10de'),
  device: hex(4, '2330'),
  class: hex(6, '030200').refine((c) => !c.startsWith('0604'), 'an endpoint cannot have the PCI bridge class 0604xx'),
  driver: endpointDriver,
  driverOverride: z.string().min(1).optional(),
  /** Defaults to on when a driver is bound. */
  busMaster: z.boolean().optional(),
  iommuGroup,
  configSize,
  /** SR-IOV physical function: its virtual functions sit next to it on the same bus. */
  sriov: z.strictObject({ vfDevice: hex(4, '1457'), vfs: z.array(virtualFunction).min(1) }).optional(),
});

const bridgeFields = {
  slot: slot.optional(),
  vendor: hex(4, '8086'),
  device: hex(4, '347a'),
  driver: bridgeDriver.default('pcieport'),
  busMaster: z.boolean().default(true),
  /** Bus number behind this bridge; assigned depth-first like firmware does when omitted. */
  secondaryBus: hex(2, '05').optional(),
  iommuGroup,
  configSize,
};

interface BridgeSpec {
  slot?: string | undefined;
  vendor: string;
  device: string;
  driver: 'pcieport' | 'none';
  busMaster: boolean;
  secondaryBus?: string | undefined;
  iommuGroup?: number | undefined;
  configSize: 256 | 4096;
}
type Input<T extends BridgeSpec> = Omit<T, 'driver' | 'busMaster' | 'configSize'> &
  Partial<Pick<BridgeSpec, 'driver' | 'busMaster' | 'configSize'>>;
type Endpoint = z.output<typeof endpoint>;
export interface Port extends BridgeSpec {
  devices: (Endpoint | PcieSwitch)[];
}
interface PortInput extends Input<BridgeSpec> {
  devices?: (z.input<typeof endpoint> | PcieSwitchInput)[] | undefined;
}
export interface PcieSwitch extends BridgeSpec {
  kind: 'switch';
  downstream: Port[];
}
interface PcieSwitchInput extends Input<BridgeSpec> {
  kind: 'switch';
  downstream: PortInput[];
}

/** A root port or a switch's downstream port: a bridge whose secondary bus holds endpoints and switches. */
const port: z.ZodType<Port, PortInput> = z.strictObject({
  ...bridgeFields,
  get devices() {
    return z.array(node).default([]);
  },
});

/** A PCIe switch: its upstream port is a bridge whose secondary (internal) bus holds the downstream ports. */
const pcieSwitch = z.strictObject({
  kind: z.literal('switch'),
  ...bridgeFields,
  get downstream() {
    return z.array(port).min(1);
  },
});

const node = z.discriminatedUnion('kind', [endpoint, pcieSwitch]);

const rootBus = z.strictObject({
  domain: hex(4, '0000').default('0000'),
  bus: hex(2, '00'),
  ports: z.array(port).default([]),
  /** Root-complex integrated endpoints, directly on the root bus. */
  devices: z.array(endpoint).default([]),
});

const topologyShape = z.strictObject({
  name: z.string().optional(),
  description: z.string().optional(),
  roots: z.array(rootBus).min(1),
});

export type Topology = z.output<typeof topologyShape>;
export type TopologyInput = z.input<typeof topologyShape>;
type Path = (string | number)[];

/** One PCI function of the simulated host, with everything the sysfs writer needs. */
export interface SimDevice {
  bdf: Bdf;
  /** Directory under <sysfs>/devices, e.g. pci0000:04/0000:04:01.0/0000:05:00.1. */
  dir: string;
  vendor: string;
  device: string;
  class: string;
  driver: string | null;
  driverOverride: string | null;
  busMaster: boolean;
  bridge: boolean;
  /** SR-IOV VFs read all-ones vendor/device ids in config space; sysfs shows the real ids. */
  virtualFunction: boolean;
  multifunction: boolean;
  configSize: 256 | 4096;
  iommuGroup: number;
  upstream: Bdf[];
  physfn: Bdf | null;
  virtfns: Bdf[];
  /** Bridges: primary / secondary / subordinate bus numbers. */
  buses: { primary: number; secondary: number; subordinate: number } | null;
  /** N of vfio-dev/vfio<N> for devices bound to vfio-pci. */
  vfioIndex: number | null;
  /** Where in the topology file this function was described. */
  path: Path;
}

export interface TopologyProblem {
  path: Path;
  message: string;
}

interface Placed {
  path: Path;
  slot: string | undefined;
  virtualFunction: boolean;
}

/** Lays the tree out the way firmware enumerates it: bus numbers depth-first, slots in order, groups and vfio ids. */
export function layoutTopology(topology: Topology): { devices: SimDevice[]; problems: TopologyProblem[] } {
  const devices: SimDevice[] = [];
  const problems: TopologyProblem[] = [];
  const reservedGroups = new Set<number>();
  const reservedBuses = new Map<string, Set<number>>();
  collectReserved(topology, reservedGroups, reservedBuses);
  const busCounter = new Map<string, number>();
  let nextGroup = 0;
  let nextVfio = 0;

  const group = (explicit: number | undefined): number => {
    if (explicit !== undefined) return explicit;
    while (reservedGroups.has(nextGroup)) nextGroup++;
    return nextGroup++;
  };
  const claimedBuses = new Map<string, Path>();
  const allocateBus = (domain: string, explicit: string | undefined, path: Path): number => {
    if (explicit !== undefined) {
      const bus = parseInt(explicit, 16);
      const owner = claimedBuses.get(`${domain}:${explicit}`);
      if (owner) problems.push({ path, message: `bus ${domain}:${explicit} is already ${formatPath(owner)}` });
      claimedBuses.set(`${domain}:${explicit}`, path);
      return bus;
    }
    const reserved = reservedBuses.get(domain)!;
    let bus = busCounter.get(domain)!;
    while (reserved.has(bus)) bus++;
    busCounter.set(domain, bus + 1);
    if (bus > 0xff) problems.push({ path, message: `domain ${domain} has no bus number left (more than 256 buses)` });
    return bus;
  };

  /** Gives every child of one bus its slot: explicit ones first, then the free ones in order. */
  const assignSlots = (children: Placed[], firstDevice: number, busPath: Path): (string | undefined)[] => {
    const used = new Set<string>();
    for (const child of children) {
      // Two explicit equal slots are reported as duplicate addresses once the bus is laid out.
      if (child.slot !== undefined) used.add(child.slot);
    }
    let device = firstDevice;
    return children.map((child) => {
      if (child.slot !== undefined) return child.slot;
      if (child.virtualFunction) return nextFunction(used, child.path);
      while (device <= 0x1f && used.has(slotName(device, 0))) device++;
      if (device > 0x1f) {
        problems.push({ path: busPath, message: 'more than 32 devices on one bus' });
        return undefined;
      }
      const name = slotName(device, 0);
      used.add(name);
      return name;
    });
  };
  /** VFs take the next free function numbers, ARI style (00.1 … 00.7, 01.0 …). */
  const nextFunction = (used: Set<string>, path: Path): string | undefined => {
    for (let n = 1; n < 0x100; n++) {
      const name = slotName(n >> 3, n & 7);
      if (!used.has(name)) {
        used.add(name);
        return name;
      }
    }
    problems.push({ path, message: 'no function number left for this virtual function' });
    return undefined;
  };

  type Parent = { domain: string; bus: number; dir: string; upstream: Bdf[] };

  const placeBridge = (
    parent: Parent,
    slotText: string,
    spec: Port | PcieSwitch,
    path: Path,
  ): { device: SimDevice; below: Parent } => {
    const bdf = bdfOn(parent, slotText);
    const secondary = allocateBus(parent.domain, spec.secondaryBus, [...path, 'secondaryBus']);
    const device: SimDevice = {
      bdf,
      dir: `${parent.dir}/${bdf}`,
      vendor: spec.vendor,
      device: spec.device,
      class: '060400',
      driver: spec.driver === 'none' ? null : spec.driver,
      driverOverride: null,
      busMaster: spec.busMaster,
      bridge: true,
      virtualFunction: false,
      multifunction: false,
      configSize: spec.configSize,
      iommuGroup: group(spec.iommuGroup),
      upstream: parent.upstream,
      physfn: null,
      virtfns: [],
      buses: { primary: parent.bus, secondary, subordinate: secondary },
      vfioIndex: null,
      path,
    };
    devices.push(device);
    return { device, below: { domain: parent.domain, bus: secondary, dir: device.dir, upstream: [bdf, ...parent.upstream] } };
  };

  const placeEndpoint = (parent: Parent, slotText: string, spec: Endpoint | VirtualFunctionSpec, path: Path, ids: Ids) => {
    const bdf = bdfOn(parent, slotText);
    const driver = spec.driver === 'none' ? null : spec.driver;
    const device: SimDevice = {
      bdf,
      dir: `${parent.dir}/${bdf}`,
      vendor: ids.vendor,
      device: ids.device,
      class: ids.class,
      driver,
      driverOverride: spec.driverOverride ?? null,
      busMaster: spec.busMaster ?? driver !== null,
      bridge: false,
      virtualFunction: ids.physfn !== null,
      multifunction: false,
      configSize: ids.configSize,
      iommuGroup: group(spec.iommuGroup),
      upstream: parent.upstream,
      physfn: ids.physfn,
      virtfns: [],
      buses: null,
      vfioIndex: driver === 'vfio-pci' ? nextVfio++ : null,
      path,
    };
    devices.push(device);
    return device;
  };

  /** Places every function of one bus (bridges, endpoints, VFs), recursing below bridges; returns the highest bus used. */
  const placeBus = (parent: Parent, children: Child[], firstDevice: number, busPath: Path): number => {
    const placed: Placed[] = [];
    for (const { path, spec } of children) {
      placed.push({ path, slot: spec.slot, virtualFunction: false });
      if ('kind' in spec && spec.kind === 'endpoint')
        spec.sriov?.vfs.forEach((vf, j) => placed.push({ path: [...path, 'sriov', 'vfs', j], slot: vf.slot, virtualFunction: true }));
    }
    const slots = assignSlots(placed, firstDevice, busPath);
    let highest = parent.bus;
    let cursor = 0;
    for (const { path, spec } of children) {
      const own = slots[cursor++];
      if (!('kind' in spec) || spec.kind === 'switch') {
        if (own === undefined) continue;
        const { device, below } = placeBridge(parent, own, spec, path);
        const next: Child[] =
          'kind' in spec
            ? spec.downstream.map((p, i) => ({ path: [...path, 'downstream', i], spec: p }))
            : spec.devices.map((d, i) => ({ path: [...path, 'devices', i], spec: d }));
        device.buses!.subordinate = placeBus(below, next, 0, path);
        highest = Math.max(highest, device.buses!.subordinate);
        continue;
      }
      const vfs = spec.sriov?.vfs ?? [];
      const vfSlots = slots.slice(cursor, cursor + vfs.length);
      cursor += vfs.length;
      if (own === undefined) continue;
      const pf = placeEndpoint(parent, own, spec, path, { ...spec, physfn: null });
      vfs.forEach((vf, j) => {
        const vfSlot = vfSlots[j];
        if (vfSlot === undefined) return;
        const ids = { vendor: spec.vendor, device: spec.sriov!.vfDevice, class: spec.class, configSize: spec.configSize, physfn: pf.bdf };
        pf.virtfns.push(placeEndpoint(parent, vfSlot, vf, [...path, 'sriov', 'vfs', j], ids).bdf);
      });
    }
    return highest;
  };

  topology.roots.forEach((root, r) => {
    const bus = parseInt(root.bus, 16);
    const owner = claimedBuses.get(`${root.domain}:${root.bus}`);
    if (owner) problems.push({ path: ['roots', r, 'bus'], message: `bus ${root.domain}:${root.bus} is already ${formatPath(owner)}` });
    claimedBuses.set(`${root.domain}:${root.bus}`, ['roots', r, 'bus']);
    busCounter.set(root.domain, Math.max(busCounter.get(root.domain) ?? 0, bus + 1));
    const parent: Parent = { domain: root.domain, bus, dir: `pci${root.domain}:${root.bus}`, upstream: [] };
    const children: Child[] = [
      ...root.ports.map((spec, i) => ({ path: ['roots', r, 'ports', i], spec })),
      ...root.devices.map((spec, i) => ({ path: ['roots', r, 'devices', i], spec })),
    ];
    // Device 0 of a root bus is usually the host bridge, so root ports start at 01.0.
    placeBus(parent, children, 1, ['roots', r]);
  });

  markMultifunction(devices);
  problems.push(...duplicateBdfs(devices));
  return { devices, problems };
}

type VirtualFunctionSpec = z.output<typeof virtualFunction>;
type Child = { path: Path; spec: Port | Endpoint | PcieSwitch };
type Ids = { vendor: string; device: string; class: string; configSize: 256 | 4096; physfn: Bdf | null };

function slotName(device: number, fn: number): string {
  return `${device.toString(16).padStart(2, '0')}.${fn}`;
}

function bdfOn(parent: { domain: string; bus: number }, slotText: string): Bdf {
  const [device, fn] = slotText.split('.');
  return formatBdf(parseInt(parent.domain, 16), parent.bus, parseInt(device!, 16), Number(fn));
}

function collectReserved(topology: Topology, groups: Set<number>, buses: Map<string, Set<number>>): void {
  const busesOf = (domain: string) => {
    if (!buses.has(domain)) buses.set(domain, new Set());
    return buses.get(domain)!;
  };
  const visitEndpoint = (e: Endpoint) => {
    if (e.iommuGroup !== undefined) groups.add(e.iommuGroup);
    for (const vf of e.sriov?.vfs ?? []) if (vf.iommuGroup !== undefined) groups.add(vf.iommuGroup);
  };
  const visitBridge = (domain: string, b: Port | PcieSwitch) => {
    if (b.iommuGroup !== undefined) groups.add(b.iommuGroup);
    if (b.secondaryBus !== undefined) busesOf(domain).add(parseInt(b.secondaryBus, 16));
  };
  const visitPort = (domain: string, p: Port): void => {
    visitBridge(domain, p);
    for (const n of p.devices) {
      if (n.kind === 'endpoint') visitEndpoint(n);
      else {
        visitBridge(domain, n);
        n.downstream.forEach((d) => visitPort(domain, d));
      }
    }
  };
  for (const root of topology.roots) {
    busesOf(root.domain).add(parseInt(root.bus, 16));
    root.ports.forEach((p) => visitPort(root.domain, p));
    root.devices.forEach(visitEndpoint);
  }
}

/** The header's multi-function bit is set on every function of a slot that has more than one (VFs do not count). */
function markMultifunction(devices: SimDevice[]): void {
  const perSlot = new Map<string, SimDevice[]>();
  for (const d of devices.filter((x) => !x.virtualFunction)) {
    const key = d.bdf.slice(0, 10);
    perSlot.set(key, [...(perSlot.get(key) ?? []), d]);
  }
  for (const group of perSlot.values()) if (group.length > 1) for (const d of group) d.multifunction = true;
}

function duplicateBdfs(devices: SimDevice[]): TopologyProblem[] {
  const seen = new Map<Bdf, SimDevice>();
  const problems: TopologyProblem[] = [];
  for (const d of devices) {
    const first = seen.get(d.bdf);
    if (first) problems.push({ path: d.path, message: `address ${d.bdf} is already taken by ${formatPath(first.path)}` });
    else seen.set(d.bdf, d);
  }
  return problems;
}

/** The whole schema: shape first, then the layout checks that need the whole tree (addresses, bus numbers). */
export const topologySchema = topologyShape.superRefine((topology, ctx) => {
  for (const problem of layoutTopology(topology).problems) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
});

/** topology.roots[0].ports[1].devices[2].vendor */
export const formatPath = (path: readonly PropertyKey[]): string => formatFieldPath(path, 'topology');

export class TopologyError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`${source}: invalid topology:\n  ${issues.join('\n  ')}`);
  }
}

export function parseTopology(value: unknown, source = 'topology'): Topology {
  const result = topologySchema.safeParse(value);
  if (result.success) return result.data;
  throw new TopologyError(
    source,
    result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`),
  );
}

/** Reads and validates a topology JSON file. */
export async function loadTopologyFile(file: string): Promise<Topology> {
  const text = await readFile(file, 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TopologyError(file, [`not valid JSON: ${err instanceof Error ? err.message : String(err)}`]);
  }
  return parseTopology(value, file);
}
