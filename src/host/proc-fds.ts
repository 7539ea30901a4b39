// The open files of every process, as /proc shows them: <proc>/<pid>/fd/<n> links to what fd n of pid has open. One
// walker for every question asked of them (which VFIO files a VMM holds, who holds /dev/liveupdate).
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface OpenFd {
  pid: number;
  fd: number;
  /** The link's target: a path, or a pseudo-file such as `anon_inode:[vfio-device]`. */
  target: string;
}

/** Every open fd of every process; `readdir` of the proc root itself must work (else it throws). */
export async function openFds(procRoot: string): Promise<OpenFd[]> {
  const pids = (await readdir(procRoot)).filter((e) => /^\d+$/.test(e));
  const perProcess = await Promise.all(
    pids.map(async (pid) => {
      const fdDir = join(procRoot, pid, 'fd');
      // Processes exit while we look, and without root other users' fd tables are unreadable: skip them.
      const fds = await readdir(fdDir).catch(() => [] as string[]);
      const targets = await Promise.all(fds.map((fd) => readlink(join(fdDir, fd)).catch(() => undefined)));
      return fds.flatMap((fd, i) => (targets[i] === undefined ? [] : [{ pid: Number(pid), fd: Number(fd), target: targets[i] }]));
    }),
  );
  return perProcess.flat();
}
