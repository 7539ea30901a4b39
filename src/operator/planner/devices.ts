// The plan's device rules against the agent's inventory: which endpoints must keep their DMA, and whether they can.
import type { LiveUpdateNodeStatus } from '../../api/node';
import type { LiveUpdatePlanSpec } from '../../api/plan';
import { compareBdf } from '../../pci/bdf';
import { planPreservation } from '../../pci/preservation';
import type { Bdf, DeviceError, PciDevice } from '../../pci/types';

type DeviceStatus = NonNullable<LiveUpdateNodeStatus['devices']>[number];
type OtherDevices = NonNullable<LiveUpdateNodeStatus['otherDevices']>[number];
type Kind = Pick<DeviceStatus, 'vendor' | 'device' | 'class' | 'driver' | 'inUse'>;
type DeviceRules = LiveUpdatePlanSpec['devices'];
type DeviceRule = DeviceRules['match'][number];

const isBridge = (d: Pick<DeviceStatus, 'class'>): boolean => d.class.startsWith('0604');

/** Every criterion the rule gives must hold; an id's device part may be `*`. */
function ruleMatches(rule: DeviceRule, d: Kind): boolean {
  const idMatches = (id: string) => {
    const [vendor, device] = id.split(':');
    return vendor === d.vendor && (device === '*' || device === d.device);
  };
  if (rule.ids && !rule.ids.some(idMatches)) return false;
  if (rule.classPrefixes && !rule.classPrefixes.some((p) => d.class.startsWith(p))) return false;
  if (rule.drivers && !(d.driver !== undefined && rule.drivers.includes(d.driver))) return false;
  return !(rule.inUseOnly && !d.inUse);
}

/** Endpoints whose DMA the plan protects, sorted: any rule matches (no rules: every endpoint bound to vfio-pci). Bridges never match. */
export function matchedDevices(rules: DeviceRules, devices: readonly DeviceStatus[]): Bdf[] {
  return devices
    .filter((d) => matches(rules, d))
    .map((d) => d.bdf)
    .sort(compareBdf);
}

const matches = (rules: DeviceRules, d: Kind): boolean =>
  !isBridge(d) && (rules.match.length === 0 ? d.driver === 'vfio-pci' : rules.match.some((r) => ruleMatches(r, d)));

/** The counted (unlisted) functions the rules match: none is on vfio-pci, so none can be preserved. */
export function matchedUnlisted(rules: DeviceRules, kinds: readonly OtherDevices[]): OtherDevices[] {
  return kinds.filter((k) => matches(rules, { ...k, inUse: false }));
}

/** The agent's report as the host layer's inventory, so the closure is computed by the same code the agent runs. */
function toPciDevice(d: DeviceStatus): PciDevice {
  return {
    bdf: d.bdf,
    vendor: d.vendor,
    device: d.device,
    class: d.class,
    driver: d.driver ?? null,
    driverOverride: null,
    iommuGroup: d.iommuGroup ?? null,
    busMaster: d.busMaster,
    bridge: isBridge(d),
    upstream: d.upstream,
    physfn: d.physfn ?? null,
    inUse: d.inUse,
  };
}

/** Why each of these endpoints cannot be preserved (empty: all can). */
export function preservationErrors(devices: readonly DeviceStatus[], bdfs: Bdf[]): DeviceError[] {
  return planPreservation({ devices: devices.map(toPciDevice), errors: [] }, { bdfs }).errors;
}
