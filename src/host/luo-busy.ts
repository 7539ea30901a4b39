// /dev/liveupdate has one opener at a time (PID 1 opens it at boot and in shutdown, luod-style brokers hold it):
// who holds it, read from /proc like any open file, so a refusal can name the process (Linux and simulator alike).
import { openFds } from './proc-fds';

export class LuoBusyError extends Error {
  override name = 'LuoBusyError';
  constructor(
    readonly device: string,
    readonly pids: number[],
  ) {
    const who = pids.length > 0 ? `held by pid ${pids.join(', ')}` : 'held by another process (not found in /proc)';
    super(`${device} is busy (EBUSY), ${who}: it has one opener at a time; the agent opens it only for an attempt, so stop that process or let it finish`);
  }
}

/** Pids whose fd table has `device` open (processes that exit or hide their fds while we look are skipped). */
export async function deviceOpeners(procRoot: string, device: string): Promise<number[]> {
  const fds = await openFds(procRoot).catch(() => []);
  return [...new Set(fds.filter((f) => f.target === device).map((f) => f.pid))].sort((a, b) => a - b);
}
