// Which mount a path lives on, from <proc>/self/mountinfo (proc(5)): the agent checks that its state directory is
// on a file system that survives a kexec. Shared by the Linux host (/proc) and the simulator (its fake proc).
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Mount } from '../types';

/** File systems that live in RAM: a kexec boots a new kernel with them empty. */
export const VOLATILE_FILE_SYSTEMS: ReadonlySet<string> = new Set(['tmpfs', 'ramfs']);

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
const unescape = (field: string): string => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** The mount holding `dir` (the longest mount point above its real path); undefined without a mountinfo to read. */
export async function mountOf(procRoot: string, dir: string): Promise<Mount | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(procRoot, 'self/mountinfo'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const target = await realpath(dir).catch(() => path.resolve(dir));
  let best: Mount | undefined;
  for (const line of text.split('\n')) {
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 6 || fields.length < separator + 3) continue;
    const mountPoint = unescape(fields[4]!);
    const inside = target === mountPoint || target.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`);
    // Later lines win at the same mount point: a mount stacked over an earlier one hides it.
    if (inside && (!best || mountPoint.length >= best.mountPoint.length)) best = { mountPoint, fsType: fields[separator + 1]! };
  }
  return best;
}
