// Hand-written sysfs and procfs trees in the kernel's layout, built with plain fs calls, for reader tests.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export interface HandDevice {
  /** Directory under <sysfs>/devices, e.g. pci0000:04/0000:04:01.0/0000:05:00.1. */
  path: string;
  /** File contents as the kernel prints them ("0x8086\n"); undefined leaves the file out. */
  vendor?: string;
  device?: string;
  class?: string;
  /** 16-bit command register; config is written little-endian at offset 4. */
  command?: number;
  /** Bytes of config to write; 0 leaves the file out. Default 256. */
  configSize?: number;
  driver?: string;
  /** Make the driver symlink point at a driver directory that does not exist. */
  danglingDriver?: boolean;
  iommuGroup?: string;
  physfn?: string;
  virtfns?: string[];
  /** vfio<N> under vfio-dev/. */
  vfio?: string;
}

export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

function config(size: number, command: number, pciClass: number): Buffer {
  const bytes = Buffer.alloc(size);
  if (size >= 6) bytes.writeUInt16LE(command, 4);
  if (size >= 12) bytes.writeUIntLE(pciClass, 9, 3);
  return bytes;
}

export async function buildKernelTree(sysfs: string, devices: HandDevice[]): Promise<void> {
  await mkdir(join(sysfs, 'bus/pci/devices'), { recursive: true });
  for (const d of devices) {
    const bdf = basename(d.path);
    const dir = join(sysfs, 'devices', d.path);
    const up = '../'.repeat(d.path.split('/').length + 1);
    await mkdir(dir, { recursive: true });
    await symlink(`../../../devices/${d.path}`, join(sysfs, 'bus/pci/devices', bdf));
    if (d.vendor !== undefined) await writeFile(join(dir, 'vendor'), d.vendor);
    if (d.device !== undefined) await writeFile(join(dir, 'device'), d.device);
    if (d.class !== undefined) await writeFile(join(dir, 'class'), d.class);
    const size = d.configSize ?? 256;
    if (size > 0) await writeFile(join(dir, 'config'), config(size, d.command ?? 0x0006, parseInt(d.class ?? '0', 16)));
    if (d.driver !== undefined) {
      if (!d.danglingDriver) await mkdir(join(sysfs, 'bus/pci/drivers', d.driver), { recursive: true });
      await symlink(`${up}bus/pci/drivers/${d.driver}`, join(dir, 'driver'));
    }
    if (d.iommuGroup !== undefined) {
      await mkdir(join(sysfs, 'kernel/iommu_groups', d.iommuGroup), { recursive: true });
      await symlink(`${up}kernel/iommu_groups/${d.iommuGroup}`, join(dir, 'iommu_group'));
    }
    if (d.physfn !== undefined) await symlink(`../${d.physfn}`, join(dir, 'physfn'));
    for (const [n, vf] of (d.virtfns ?? []).entries()) await symlink(`../${vf}`, join(dir, `virtfn${n}`));
    if (d.vfio !== undefined) await mkdir(join(dir, 'vfio-dev', d.vfio), { recursive: true });
  }
}

/** <proc>/<pid>/fd/<n> symlinks to the given targets (they need not exist, as with /dev nodes). */
export async function buildProc(proc: string, open: Record<string, string[]>): Promise<void> {
  await mkdir(proc, { recursive: true });
  for (const [pid, targets] of Object.entries(open)) {
    await mkdir(join(proc, pid, 'fd'), { recursive: true });
    for (const [fd, target] of targets.entries()) await symlink(target, join(proc, pid, 'fd', String(fd)));
  }
}
