// A passed-through device is in use while a VMM holds its VFIO group or VFIO device cdev open.
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** One open file of one process: what pidfd_getfd needs to take it over. */
export interface FdHolder {
  pid: number;
  fd: number;
}

export interface OpenVfioFiles {
  /** IOMMU group numbers of open /dev/vfio/<group> files. */
  groups: Set<string>;
  /** Open /dev/vfio/devices/vfio<N> cdevs by name (vfio<N>), each with a process fd holding it. */
  cdevs: Map<string, FdHolder>;
}

/** Classifies the target of one /proc/<pid>/fd/<n> link. */
export function classifyFdTarget(target: string, holder: FdHolder, into: OpenVfioFiles): void {
  const group = /^\/dev\/vfio\/(\d+)$/.exec(target);
  if (group) into.groups.add(group[1]!);
  const cdev = /^\/dev\/vfio\/devices\/(vfio\d+)$/.exec(target);
  if (cdev && !into.cdevs.has(cdev[1]!)) into.cdevs.set(cdev[1]!, holder);
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
  const found: OpenVfioFiles = { groups: new Set(), cdevs: new Map() };
  await Promise.all(
    pids.map(async (pid) => {
      const fdDir = join(procRoot, pid, 'fd');
      const fds = await entriesOrEmpty(fdDir);
      const targets = await Promise.all(fds.map((fd) => targetOrUndefined(join(fdDir, fd))));
      targets.forEach((target, i) => {
        if (target !== undefined) classifyFdTarget(target, { pid: Number(pid), fd: Number(fds[i]) }, found);
      });
    }),
  );
  return found;
}
