// Test runner: finds *.test.ts files (Node's runner neither globs nor finds .ts by itself), starts one shared
// control plane for suites that need the API, runs node's test runner, and always stops what it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalControlPlane } from '../src/envtest/control-plane';

const SUITES_NEEDING_API = new Set(['integration', 'e2e', 'kernel']);
const root = path.resolve(__dirname, '..');

async function testFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

/** Where the last run's durations per file are kept (with the other cached tools: they survive a fresh clone). */
function durationsFile(suite: string): string {
  const cacheRoot = process.env.LIVEUPDATE_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'liveupdate-operator');
  return path.join(cacheRoot, 'test-durations', `${suite}.json`);
}

async function readDurations(file: string): Promise<Record<string, number>> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

/**
 * Longest first by the last run (files without a figure, new ones, first of all): the runner hands files to its
 * workers in this order, and a long file started last would leave the other workers idle at the end.
 */
function slowestFirst(files: string[], last: Record<string, number>): string[] {
  const ms = (f: string) => last[f] ?? Infinity;
  return [...files].sort((a, b) => ms(b) - ms(a) || a.localeCompare(b));
}

async function main(): Promise<number> {
  const [suite, ...filters] = process.argv.slice(2);
  if (!suite) throw new Error('usage: run.ts <unit|integration|e2e|kernel> [file-substring ...]');
  const files = (await testFiles(path.join(root, 'test', suite))).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
  if (files.length === 0) throw new Error(`no test files under test/${suite}${filters.length ? ` matching ${filters.join(', ')}` : ''}`);

  const env: NodeJS.ProcessEnv = { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' };
  let plane: LocalControlPlane | undefined;
  let kubeconfigDir: string | undefined;
  let measuredDir: string | undefined;
  let child: ChildProcess | undefined;
  const cleanup = async (): Promise<void> => {
    await plane?.stop();
    for (const dir of [kubeconfigDir, measuredDir]) if (dir) await rm(dir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      child?.kill(signal);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    if (SUITES_NEEDING_API.has(suite)) {
      const started = Date.now();
      plane = await LocalControlPlane.start({ crdDir: path.join(root, 'crds'), log: (m) => console.error(`[envtest] ${m}`) });
      console.error(`[envtest] control plane ready in ${Date.now() - started} ms at ${plane.admin.server}`);
      kubeconfigDir = await mkdtemp(path.join(os.tmpdir(), 'liveupdate-kubeconfig-'));
      env.LIVEUPDATE_TEST_KUBECONFIG = path.join(kubeconfigDir, 'admin.kubeconfig');
      env.LIVEUPDATE_TEST_BIN_DIR = plane.binaries.dir;
      await writeFile(env.LIVEUPDATE_TEST_KUBECONFIG, plane.kubeconfig());
    }
    // Suites on the API spend most of their time waiting on processes and clocks, not computing: one file more than
    // the cores keeps both busy. LIVEUPDATE_TEST_CONCURRENCY overrides it.
    const cores = Math.max(1, os.availableParallelism());
    const concurrency = process.env.LIVEUPDATE_TEST_CONCURRENCY ?? String(SUITES_NEEDING_API.has(suite) ? cores + 1 : cores);
    const durations = durationsFile(suite);
    const last = await readDurations(durations);
    measuredDir = await mkdtemp(path.join(os.tmpdir(), 'liveupdate-durations-'));
    const measured = path.join(measuredDir, 'durations.json');
    const reporters = ['--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${path.join(root, 'test', 'durations-reporter.mjs')}`, `--test-reporter-destination=${measured}`];
    const args = ['--test', `--test-concurrency=${concurrency}`, ...reporters, '-r', 'ts-node/register', ...slowestFirst(files, last)];
    child = spawn(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
    const code = await new Promise<number>((resolve) => child?.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
    // Figures of this run replace the old ones file by file; a file not run this time keeps its old figure.
    const fresh = Object.fromEntries(Object.entries(await readDurations(measured)).map(([f, ms]) => [path.relative(root, f), ms]));
    await mkdir(path.dirname(durations), { recursive: true });
    await writeFile(durations, JSON.stringify({ ...last, ...fresh }, null, 1));
    return code;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
