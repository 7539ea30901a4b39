// PCI inventory of a Linux host, read from sysfs and procfs exactly as the kernel lays them out. The roots are
// overridable, so the same code reads the simulator's fake tree.
import { readdir, realpath } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { compareBdf, isBdf } from '../../pci/bdf';
import { upstreamFromDevicePath } from '../pci/chain';
import { busMasterEnabled } from '../pci/config';
import { scanOpenVfioFiles, type OpenVfioFiles } from '../pci/in-use';
import { isBridgeClass, parseClass, parseDriverOverride, parseId } from '../pci/sysfs-values';
import {
  DeviceReadError,
  linkName,
  readAttribute,
  readConfigHeader,
  readVfioDevice,
  readVirtfns,
} from '../pci/sysfs-read';
import type { Bdf, DeviceError, Inventory, PciDevice } from '../types';

export interface PciRoots {
  /** Default /sys. */
  sysfsRoot?: string;
  /** Default /proc. */
  procRoot?: string;
}

/** The sysfs or proc root itself cannot be read: nothing about any device can be said. */
export class UnreadableRootError extends Error {}

function devicesDir(sysfsRoot: string): string {
  return join(sysfsRoot, 'bus/pci/devices');
}

async function readIdAttribute(dir: string, name: 'vendor' | 'device'): Promise<string> {
  const text = await readAttribute(dir, name);
  const id = text === undefined ? undefined : parseId(text);
  if (id === undefined)
    throw new DeviceReadError('bad-id', text === undefined ? `no ${name} file` : `${name} reads "${text.trim()}", not 0xNNNN`);
  return id;
}

async function readClass(dir: string): Promise<string> {
  const text = await readAttribute(dir, 'class');
  const pciClass = text === undefined ? undefined : parseClass(text);
  if (pciClass === undefined)
    throw new DeviceReadError('unknown-class', text === undefined ? 'no class file' : `class reads "${text.trim()}", not 0xNNNNNN`);
  return pciClass;
}

/** Reads one device; `inUse` is filled in by the caller from the process scan. */
async function readDevice(sysfsRoot: string, devicesRoot: string, bdf: Bdf, open: OpenVfioFiles): Promise<PciDevice> {
  let dir: string;
  try {
    dir = await realpath(join(devicesDir(sysfsRoot), bdf));
  } catch {
    throw new DeviceReadError('dangling-symlink', `bus/pci/devices/${bdf} points nowhere`);
  }
  const upstream = upstreamFromDevicePath(relative(devicesRoot, dir), bdf);
  if (upstream === undefined)
    throw new DeviceReadError('unresolved-chain', `${dir} is not a PCI device directory below a root bus of ${devicesRoot}`);

  const header = await readConfigHeader(dir);
  const pciClass = await readClass(dir);
  const entries = await readdir(dir);
  const iommuGroup = await linkName(dir, 'iommu_group');
  const vfioDevice = await readVfioDevice(dir);
  const physfn = await linkName(dir, 'physfn');
  if (physfn !== null && !isBdf(physfn)) throw new DeviceReadError('bad-bdf', `physfn points to "${physfn}", not a PCI address`);
  const driverOverride = await readAttribute(dir, 'driver_override');
  return {
    bdf,
    vendor: await readIdAttribute(dir, 'vendor'),
    device: await readIdAttribute(dir, 'device'),
    class: pciClass,
    driver: await linkName(dir, 'driver'),
    driverOverride: driverOverride === undefined ? null : parseDriverOverride(driverOverride),
    iommuGroup,
    busMaster: busMasterEnabled(header),
    bridge: isBridgeClass(pciClass),
    upstream,
    physfn,
    virtfns: await readVirtfns(dir, entries),
    vfioDevice,
    inUse: (iommuGroup !== null && open.groups.has(iommuGroup)) || (vfioDevice !== null && open.cdevs.has(vfioDevice)) || open.groupDevices.has(bdf),
  };
}

function toDeviceError(bdf: Bdf, err: unknown): DeviceError {
  if (err instanceof DeviceReadError) return { bdf, reason: err.reason, message: err.message };
  return { bdf, reason: 'unreadable', message: err instanceof Error ? err.message : String(err) };
}

/**
 * Every PCI function under <sysfs>/bus/pci/devices, sorted by address. A device that cannot be fully read is
 * reported in `errors` (and left out of `devices`); only an unreadable root throws (UnreadableRootError).
 */
export async function readPciInventory(roots: PciRoots = {}): Promise<Inventory> {
  const sysfsRoot = roots.sysfsRoot ?? '/sys';
  const procRoot = roots.procRoot ?? '/proc';
  let names: string[];
  let devicesRoot: string;
  try {
    names = await readdir(devicesDir(sysfsRoot));
    devicesRoot = await realpath(join(sysfsRoot, 'devices'));
  } catch (err) {
    throw new UnreadableRootError(`sysfs root ${sysfsRoot}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  let open: OpenVfioFiles;
  try {
    open = await scanOpenVfioFiles(procRoot);
  } catch (err) {
    throw new UnreadableRootError(`proc root ${procRoot}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }

  const inventory: Inventory = { devices: [], errors: [] };
  await Promise.all(
    names.map(async (name) => {
      if (!isBdf(name)) {
        inventory.errors.push({ bdf: name, reason: 'bad-bdf', message: `bus/pci/devices/${name} is not a PCI address` });
        return;
      }
      try {
        inventory.devices.push(await readDevice(sysfsRoot, devicesRoot, name, open));
      } catch (err) {
        inventory.errors.push(toDeviceError(name, err));
      }
    }),
  );
  inventory.devices.sort((a, b) => compareBdf(a.bdf, b.bdf));
  inventory.errors.sort((a, b) => compareBdf(a.bdf, b.bdf));
  return inventory;
}

/** Bus Master Enable of one device, read from its config space now. Throws with the reason if unreadable. */
export async function readBusMaster(sysfsRoot: string, bdf: Bdf): Promise<boolean> {
  if (!isBdf(bdf)) throw new Error(`not a PCI address: "${bdf}"`);
  try {
    return busMasterEnabled(await readConfigHeader(join(devicesDir(sysfsRoot), bdf)));
  } catch (err) {
    if (err instanceof DeviceReadError) throw new Error(`${bdf}: ${err.message} (${err.reason})`, { cause: err });
    throw err;
  }
}
