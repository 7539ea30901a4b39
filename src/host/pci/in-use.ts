// A passed-through device is in use while a VMM holds its VFIO group, its VFIO device cdev, or a device fd the group
// API gave out (VFIO_GROUP_GET_DEVICE_FD: an anonymous file whose /proc/<pid>/fdinfo names the device).
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { openFds } from '../proc-fds';
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

/** Scans <proc>/<pid>/fd/* of every process. `readdir` of the proc root itself must work (else it throws). */
export async function scanOpenVfioFiles(procRoot: string): Promise<OpenVfioFiles> {
  const found = emptyOpenVfioFiles();
  await Promise.all(
    (await openFds(procRoot)).map(async ({ pid, fd, target }) => {
      const fdinfo = target === VFIO_GROUP_DEVICE_FD ? await readFile(join(procRoot, String(pid), 'fdinfo', String(fd)), 'utf8').catch(() => undefined) : undefined;
      classifyFdTarget(target, { pid, fd }, found, fdinfo);
    }),
  );
  return found;
}
