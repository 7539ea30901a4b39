// `liveupdate demo`: the whole system on this machine, one command (src/demo/run.ts).
import path from 'node:path';
import { plainDisplay, terminalDisplay } from '../demo/display';
import { parseFaultFlag } from '../demo/faults';
import { runDemo } from '../demo/run';
import { newRunDir, pruneRuns } from '../demo/runs';
import { packageRoot } from '../util/package-root';
import { UsageError } from './usage';

const ROOT = packageRoot();

function seconds(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`demo: ${flag} must be a number of seconds >= 0, got "${value}"`);
  return n;
}

export interface DemoOptions {
  nodes: string;
  fault?: string[];
  keep?: boolean;
  json?: string;
  dir?: string;
  kubeconfig?: string;
  approveAfter: string;
  timeout: string;
  crds?: string;
}

export async function run(values: DemoOptions): Promise<number> {
  if (!/^\d+$/.test(values.nodes) || Number(values.nodes) < 1) throw new UsageError(`demo: --nodes must be a whole number >= 1, got "${values.nodes}"`);
  const faults = (values.fault ?? []).map(parseFaultFlag);
  // A closed terminal (SIGHUP) makes writes fail: the demo must still stop what it started.
  process.stdout.on('error', () => undefined);
  // A terminal of no width (some pseudo-terminals) would wrap every character: plain lines there too.
  const tty = process.stdout.isTTY === true && process.stdout.columns > 0;
  const runs = path.join(ROOT, '.cache', 'demo');
  if (!values.dir) await pruneRuns(runs);
  return runDemo({
    nodes: Number(values.nodes),
    faults,
    keep: values.keep === true,
    json: values.json && path.resolve(values.json),
    dir: values.dir ?? newRunDir(runs),
    kubeconfig: path.resolve(values.kubeconfig ?? path.join(ROOT, '.cache', 'kubeconfig')),
    crdDir: values.crds ?? path.join(ROOT, 'crds'),
    approveAfterMs: seconds('--approve-after', values.approveAfter) * 1000,
    timeoutMs: seconds('--timeout', values.timeout) * 1000,
    display: tty ? terminalDisplay(process.stdout) : plainDisplay((text) => process.stdout.write(text)),
  });
}
