// Test runner: finds *.test.ts files (Node's runner neither globs nor finds .ts by itself), starts one shared
// control plane for suites that need the API, runs node's test runner, and always stops what it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
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

async function main(): Promise<number> {
  const [suite, ...filters] = process.argv.slice(2);
  if (!suite) throw new Error('usage: run.ts <unit|integration|e2e|kernel> [file-substring ...]');
  const files = (await testFiles(path.join(root, 'test', suite))).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
  if (files.length === 0) throw new Error(`no test files under test/${suite}${filters.length ? ` matching ${filters.join(', ')}` : ''}`);

  const env: NodeJS.ProcessEnv = { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' };
  let plane: LocalControlPlane | undefined;
  let kubeconfigDir: string | undefined;
  let child: ChildProcess | undefined;
  const cleanup = async (): Promise<void> => {
    await plane?.stop();
    if (kubeconfigDir) await rm(kubeconfigDir, { recursive: true, force: true });
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
    const args = ['--test', `--test-concurrency=${concurrency}`, '-r', 'ts-node/register', ...files];
    child = spawn(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
    return await new Promise<number>((resolve) => child?.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
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
