// The demo's default run directories, .cache/demo/<time>: a new one per run (a fleet dir that already exists keeps
// its nodes' kernels, so a second run would find every node up to date), and the older ones pruned.
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { isAlive } from '../util/process-alive';

export const PID_FILE = 'demo.pid';

export const newRunDir = (parent: string, now = new Date()): string => path.join(parent, now.toISOString().replace(/[:.]/g, '-'));

/**
 * Removes earlier runs under `parent` but the newest `keep`. Only directories a demo made (holding its pid file)
 * are candidates, and never one whose demo still runs.
 */
export async function pruneRuns(parent: string, keep = 3): Promise<void> {
  const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
  const runs: string[] = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const owner = await readFile(path.join(parent, entry.name, PID_FILE), 'utf8').catch(() => undefined);
    if (owner !== undefined && !isAlive(Number(owner))) runs.push(path.join(parent, entry.name));
  }
  for (const dir of runs.slice(0, Math.max(0, runs.length - keep))) await rm(dir, { recursive: true, force: true });
}
