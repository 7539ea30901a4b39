// Writes a fake sysfs tree laid out exactly like the kernel's, so the Linux reader runs on it unchanged:
//   <root>/devices/pci0000:04/0000:04:01.0/0000:05:00.1/{vendor,device,class,config,driver,iommu_group,physfn,...}
//   <root>/bus/pci/devices/<bdf> -> ../../../devices/...
//   <root>/bus/pci/drivers/<name>/<bdf>, <root>/kernel/iommu_groups/<n>/devices/<bdf>
import { mkdir, open, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import {
  COMMAND_BUS_MASTER,
  COMMAND_MEMORY_SPACE,
  COMMAND_OFFSET,
  HEADER_TYPE_BRIDGE,
  HEADER_TYPE_MULTIFUNCTION,
  HEADER_TYPE_OFFSET,
  PRIMARY_BUS_OFFSET,
  SECONDARY_BUS_OFFSET,
  SUBORDINATE_BUS_OFFSET,
} from '../pci/config';
import { isBdf } from '../../pci/bdf';
import { linkName, readVfioDevice } from '../pci/sysfs-read';
import { parseDriverOverride } from '../pci/sysfs-values';
import type { Bdf } from '../types';
import { layoutTopology, TopologyError, formatPath, type SimDevice, type Topology } from './topology';

/** Config space of one function: ids, command register, class, header type and, for bridges, bus numbers. */
export function encodeConfig(d: SimDevice): Buffer {
  const config = Buffer.alloc(d.configSize);
  // A VF's vendor and device id registers read all ones (SR-IOV spec); sysfs shows the ids from the PF.
  config.writeUInt16LE(d.virtualFunction ? 0xffff : parseInt(d.vendor, 16), 0);
  config.writeUInt16LE(d.virtualFunction ? 0xffff : parseInt(d.device, 16), 2);
  // A VF has no Memory Space Enable of its own (it lives in the PF's SR-IOV capability).
  const memory = d.virtualFunction ? 0 : COMMAND_MEMORY_SPACE;
  config.writeUInt16LE(memory | (d.busMaster ? COMMAND_BUS_MASTER : 0), COMMAND_OFFSET);
  const pciClass = parseInt(d.class, 16);
  config.writeUInt8(pciClass & 0xff, 0x09);
  config.writeUInt16LE(pciClass >> 8, 0x0a);
  const headerType = (d.bridge ? HEADER_TYPE_BRIDGE : 0) | (d.multifunction ? HEADER_TYPE_MULTIFUNCTION : 0);
  config.writeUInt8(headerType, HEADER_TYPE_OFFSET);
  if (d.buses) {
    config.writeUInt8(d.buses.primary, PRIMARY_BUS_OFFSET);
    config.writeUInt8(d.buses.secondary, SECONDARY_BUS_OFFSET);
    config.writeUInt8(d.buses.subordinate, SUBORDINATE_BUS_OFFSET);
  }
  return config;
}

/** A relative symlink, as the kernel makes them (e.g. driver -> ../../../bus/pci/drivers/vfio-pci). */
async function link(from: string, to: string): Promise<void> {
  await symlink(relative(dirname(from), to), from);
}

const hexFile = (hex: string) => `0x${hex}\n`;

async function writeDevice(root: string, d: SimDevice): Promise<void> {
  const dir = join(root, 'devices', d.dir);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'vendor'), hexFile(d.vendor));
  await writeFile(join(dir, 'device'), hexFile(d.device));
  await writeFile(join(dir, 'class'), hexFile(d.class));
  await writeFile(join(dir, 'config'), encodeConfig(d));
  await writeFile(join(dir, 'driver_override'), `${d.driverOverride ?? '(null)'}\n`);
  await link(join(root, 'bus/pci/devices', d.bdf), dir);

  if (d.driver) await attachDriver(root, dir, d.bdf, d.driver);
  const groupDir = join(root, 'kernel/iommu_groups', String(d.iommuGroup));
  await mkdir(join(groupDir, 'devices'), { recursive: true });
  await link(join(dir, 'iommu_group'), groupDir);
  await link(join(groupDir, 'devices', d.bdf), dir);

  if (d.buses) {
    await writeFile(join(dir, 'secondary_bus_number'), `${d.buses.secondary}\n`);
    await writeFile(join(dir, 'subordinate_bus_number'), `${d.buses.subordinate}\n`);
  }
  if (d.physfn) await link(join(dir, 'physfn'), join(dirname(dir), d.physfn));
  if (d.virtfns.length > 0) {
    await writeFile(join(dir, 'sriov_totalvfs'), `${d.virtfns.length}\n`);
    await writeFile(join(dir, 'sriov_numvfs'), `${d.virtfns.length}\n`);
    for (const [n, vf] of d.virtfns.entries()) await link(join(dir, `virtfn${n}`), join(dirname(dir), vf));
  }
  if (d.vfioIndex !== null) await mkdir(join(dir, 'vfio-dev', `vfio${d.vfioIndex}`), { recursive: true });
}

/** The driver <-> device links a bound driver has. */
async function attachDriver(root: string, dir: string, bdf: Bdf, driver: string): Promise<void> {
  const driverDir = join(root, 'bus/pci/drivers', driver);
  await mkdir(driverDir, { recursive: true });
  await link(join(dir, 'driver'), driverDir);
  await link(join(driverDir, bdf), dir);
}

async function deviceDir(sysfsRoot: string, bdf: Bdf): Promise<string> {
  if (!isBdf(bdf)) throw new Error(`not a PCI address: "${bdf}"`);
  return realpath(join(sysfsRoot, 'bus/pci/devices', bdf));
}

/** Binds an unbound device to `driver`; vfio-pci also creates its VFIO device cdev (vfio-dev/<cdev>). */
export async function bindDriver(sysfsRoot: string, bdf: Bdf, driver: string, vfioCdev?: string): Promise<void> {
  const dir = await deviceDir(sysfsRoot, bdf);
  await attachDriver(sysfsRoot, dir, bdf, driver);
  if (vfioCdev) await mkdir(join(dir, 'vfio-dev', vfioCdev), { recursive: true });
}

/** Unbinds whatever driver holds the device; returns the VFIO cdev it lost (null if it had none). */
export async function unbindDriver(sysfsRoot: string, bdf: Bdf): Promise<string | null> {
  const dir = await deviceDir(sysfsRoot, bdf);
  const driver = await linkName(dir, 'driver');
  const cdev = await readVfioDevice(dir);
  if (driver !== null) await rm(join(sysfsRoot, 'bus/pci/drivers', driver, bdf), { force: true });
  await rm(join(dir, 'driver'), { force: true });
  await rm(join(dir, 'vfio-dev'), { recursive: true, force: true });
  return cdev;
}

/** driver_override as the kernel prints it: "(null)" when unset. */
export async function writeDriverOverride(sysfsRoot: string, bdf: Bdf, driver: string | null): Promise<void> {
  await writeFile(join(await deviceDir(sysfsRoot, bdf), 'driver_override'), `${driver ?? '(null)'}\n`);
}

export async function readDriverOverride(sysfsRoot: string, bdf: Bdf): Promise<string | null> {
  return parseDriverOverride(await readFile(join(await deviceDir(sysfsRoot, bdf), 'driver_override'), 'utf8'));
}

/**
 * Writes the topology's sysfs tree under `dir` (created if absent; must be empty) and returns the laid-out
 * devices. Throws a TopologyError if the topology does not lay out (duplicate addresses, bus numbers, ...).
 */
export async function writeSysfsTree(topology: Topology, dir: string): Promise<SimDevice[]> {
  const { devices, problems } = layoutTopology(topology);
  if (problems.length > 0)
    throw new TopologyError('topology', problems.map((p) => `${formatPath(p.path)}: ${p.message}`));
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) throw new Error(`${dir}: not empty; a simulated sysfs tree needs a fresh directory`);
  await mkdir(join(dir, 'bus/pci/devices'), { recursive: true });
  await mkdir(join(dir, 'bus/pci/drivers'), { recursive: true });
  await mkdir(join(dir, 'kernel/iommu_groups'), { recursive: true });
  for (const root of topology.roots) await mkdir(join(dir, 'devices', `pci${root.domain}:${root.bus}`), { recursive: true });
  // Parents come before their children in the layout, so every directory's parent exists.
  for (const d of devices) await writeDevice(dir, d);
  return devices;
}

/** Sets or clears Bus Master Enable in the device's config file, in place, like a setpci write would. */
export async function setBusMaster(sysfsRoot: string, bdf: Bdf, on: boolean): Promise<void> {
  if (!isBdf(bdf)) throw new Error(`not a PCI address: "${bdf}"`);
  const file = await open(join(sysfsRoot, 'bus/pci/devices', bdf, 'config'), 'r+');
  try {
    const command = Buffer.alloc(2);
    const { bytesRead } = await file.read(command, 0, 2, COMMAND_OFFSET);
    if (bytesRead < 2) throw new Error(`${bdf}: config space too short for the command register`);
    const value = command.readUInt16LE(0);
    command.writeUInt16LE(on ? value | COMMAND_BUS_MASTER : value & ~COMMAND_BUS_MASTER, 0);
    await file.write(command, 0, 2, COMMAND_OFFSET);
  } finally {
    await file.close();
  }
}
