import { readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isAlive } from '../util/process-alive';

export const RUN_DIR_PREFIX = 'liveupdate-envtest-';

/**
 * A harness killed with SIGKILL cannot stop its children. The next start finds its run directory (owner dead),
 * kills the processes whose command line names that directory (so a reused pid is never hit) and removes it.
 */
export async function reapStaleRuns(log: (m: string) => void): Promise<void> {
  const tmp = os.tmpdir();
  const runs = (await readdir(tmp)).filter((d) => d.startsWith(RUN_DIR_PREFIX)).map((d) => path.join(tmp, d));
  for (const runDir of runs) {
    const owner = Number(await readFile(path.join(runDir, 'owner.pid'), 'utf8').catch(() => 'NaN'));
    if (Number.isInteger(owner) && isAlive(owner)) continue;
    for (const entry of await readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(entry)) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(runDir)) {
        log(`killing stale control-plane process ${entry} of ${runDir}`);
        try {
          process.kill(Number(entry), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await rm(runDir, { recursive: true, force: true });
  }
}
