// A passed-through device is in use while a VMM holds its VFIO group, its VFIO device cdev, or a device fd the group
// API gave out (VFIO_GROUP_GET_DEVICE_FD: an anonymous file whose /proc/<pid>/fdinfo names the device).
import { readdir, readFile, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Bdf } from '../types';

/** One open file of one process: what pidfd_getfd needs to take it over. */
export interface FdHolder {
  pid: number;
  fd: number;
}

export interface OpenVfioFiles {
  /** Open /dev/vfio/<group> files by IOMMU group number, each with a process fd holding it. */
  groups: Map<string, FdHolder>;
  /** Open /dev/vfio/devices/vfio<N> cdevs by name (vfio<N>), each with a process fd holding it. */
  cdevs: Map<string, FdHolder>;
  /**
   * Device fds from the group/container API (link `anon_inode:[vfio-device]`) by the BDF their fdinfo's
   * `vfio-device-syspath` names (Linux 6.18+; older kernels do not say, and only the group file tells).
   */
  groupDevices: Map<Bdf, FdHolder>;
}

/** The link target of a device fd the VFIO group API handed out. */
export const VFIO_GROUP_DEVICE_FD = 'anon_inode:[vfio-device]';

export function emptyOpenVfioFiles(): OpenVfioFiles {
  return { groups: new Map(), cdevs: new Map(), groupDevices: new Map() };
}

/** Classifies the target of one /proc/<pid>/fd/<n> link; `fdinfo` is that fd's fdinfo text, read for device fds. */
export function classifyFdTarget(target: string, holder: FdHolder, into: OpenVfioFiles, fdinfo?: string): void {
  const group = /^\/dev\/vfio\/(\d+)$/.exec(target);
  if (group && !into.groups.has(group[1]!)) into.groups.set(group[1]!, holder);
  const cdev = /^\/dev\/vfio\/devices\/(vfio\d+)$/.exec(target);
  if (cdev && !into.cdevs.has(cdev[1]!)) into.cdevs.set(cdev[1]!, holder);
  if (target === VFIO_GROUP_DEVICE_FD && fdinfo !== undefined) {
    const syspath = /^vfio-device-syspath:\s*(\S+)\s*$/m.exec(fdinfo)?.[1];
    const bdf = syspath === undefined ? undefined : basename(syspath);
    if (bdf !== undefined && !into.groupDevices.has(bdf)) into.groupDevices.set(bdf, holder);
  }
}

async function entriesOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    // Processes exit while we look, and without root other users' fd tables are unreadable: skip them.
    return [];
  }
}

async function targetOrUndefined(link: string): Promise<string | undefined> {
  try {
    return await readlink(link);
  } catch {
    return undefined;
  }
}

/** Scans <proc>/<pid>/fd/* of every process. `readdir` of the proc root itself must work (else it throws). */
export async function scanOpenVfioFiles(procRoot: string): Promise<OpenVfioFiles> {
  const pids = (await readdir(procRoot)).filter((e) => /^\d+$/.test(e));
  const found = emptyOpenVfioFiles();
  await Promise.all(
    pids.map(async (pid) => {
      const fdDir = join(procRoot, pid, 'fd');
      const fds = await entriesOrEmpty(fdDir);
      const targets = await Promise.all(fds.map((fd) => targetOrUndefined(join(fdDir, fd))));
      await Promise.all(
        targets.map(async (target, i) => {
          if (target === undefined) return;
          const fdinfo = target === VFIO_GROUP_DEVICE_FD ? await readFile(join(procRoot, pid, 'fdinfo', fds[i]!), 'utf8').catch(() => undefined) : undefined;
          classifyFdTarget(target, { pid: Number(pid), fd: Number(fds[i]) }, found, fdinfo);
        }),
      );
    }),
  );
  return found;
}
