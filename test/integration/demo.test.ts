// `liveupdate demo` end to end, as a user runs it: its own control plane, the operator and one agent per node as
// processes. The runs prove the outcome (exit status and --json) and that nothing the demo started outlives it,
// whichever way it is stopped: Ctrl-C, SIGTERM to the npm process alone, SIGHUP, or its parent dying.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { waitFor } from '../support/wait';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'src/cli/main.ts');

interface Run {
  child: ChildProcess;
  dir: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

async function start(how: 'node' | 'npm', args: string[]): Promise<Run> {
  const base = await mkdtemp(path.join(tmpdir(), 'liveupdate-demo-test-'));
  const dir = path.join(base, 'run');
  const demoArgs = ['--dir', dir, '--kubeconfig', path.join(base, 'kubeconfig'), ...args];
  const env = { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' };
  const child =
    how === 'node'
      ? spawn(process.execPath, ['-r', 'ts-node/register', CLI, 'demo', ...demoArgs], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('npm', ['run', '--silent', 'demo', '--', ...demoArgs], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, dir, exit, output: () => output };
}

/** Every pid the demo recorded (control plane, operator, agents); the file is written as each one starts. */
async function recordedPids(dir: string): Promise<Map<number, string>> {
  const text = await readFile(path.join(dir, 'pids'), 'utf8');
  return new Map(
    text
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      .map(([pid, what]) => [Number(pid), what ?? ''] as const),
  );
}

/** Running means a process that is not a zombie (one whose parent is gone may wait for a reaper that never comes). */
async function running(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

/** Processes whose command line names the run dir (agents get their --sim-dir under it), recorded or not. */
async function processesNaming(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(dir) && (await running(Number(entry)))) found.push(Number(entry));
  }
  return found;
}

async function assertNothingLeft(run: Run): Promise<void> {
  const pids = await recordedPids(run.dir);
  const kinds = [...pids.values()];
  assert.equal(kinds.filter((k) => k === 'control-plane').length, 2, 'etcd and kube-apiserver recorded');
  assert.ok(kinds.includes('operator') && kinds.includes('agent'), `operator and agents recorded: ${kinds.join(', ')}`);
  const alive: string[] = [];
  for (const [pid, what] of pids) if (await running(pid)) alive.push(`${what} ${pid}`);
  assert.deepEqual(alive, [], `still running after the demo ended:\n${run.output()}`);
  assert.deepEqual(await processesNaming(run.dir), []);
}

const appliedPlan = (run: Run) => waitFor('the plan applied', () => run.output().includes('Applied plan demo-rollout'), 90_000, 100);

interface SummaryJson {
  plan: { name: string; phase: string };
  asExpected: boolean;
  nodes: { node: string; topology: string; phase: string; reason: string | null; kernelBefore: string; kernelAfter: string; preserved: { devices: number; bridges: number }; dmaContinuous: boolean | null }[];
}

describe('liveupdate demo', { timeout: 600_000 }, () => {
  it('rolls a 3-node fleet through the canary and its approval to Completed, and says so in --json', async () => {
    const json = path.join(await mkdtemp(path.join(tmpdir(), 'liveupdate-demo-json-')), 'summary.json');
    const run = await start('node', ['--nodes', '3', '--json', json, '--approve-after', '1']);
    const { code } = await run.exit;
    assert.equal(code, 0, run.output());
    const out = run.output();
    assert.match(out, /approving it in 1 s, as `kubectl liveupdate approve demo-rollout` would/);
    assert.match(out, /Approved step 0 as `kubectl liveupdate approve demo-rollout` would/);
    assert.match(out, /sim-node-01 Prepared {2}kernel 6\.19\.0-sim {2}preserving 8 devices and 16 bridges above them/);
    assert.match(out, /The outcome is the one the plan prescribes\./);
    const summary = JSON.parse(await readFile(json, 'utf8')) as SummaryJson;
    assert.deepEqual(summary.plan, { name: 'demo-rollout', phase: 'Completed', progress: '2/2' });
    assert.equal(summary.asExpected, true);
    const [gpu, nvme, mixed] = summary.nodes;
    assert.deepEqual(
      summary.nodes.map((n) => [n.node, n.topology, n.phase, n.kernelBefore, n.kernelAfter]),
      [
        ['sim-node-01', 'gpu8', 'Succeeded', '6.19.0-sim', '6.19.4-lu2'],
        ['sim-node-02', 'nvme-sriov', 'Succeeded', '6.19.0-sim', '6.19.4-lu2'],
        ['sim-node-03', 'mixed-switch', 'Skipped', '6.19.0-sim', '6.19.0-sim'],
      ],
    );
    assert.deepEqual([gpu!.preserved, gpu!.dmaContinuous], [{ devices: 8, bridges: 16 }, true]);
    assert.deepEqual([nvme!.preserved, nvme!.dmaContinuous], [{ devices: 2, bridges: 1 }, true]);
    assert.equal(mixed!.reason, 'DevicesNotPreservable');
    await assertNothingLeft(run);
  });

  it('a prepare fault on node 2: cancelled before the point of no return, the plan halts, exit 0 as prescribed', async () => {
    const json = path.join(await mkdtemp(path.join(tmpdir(), 'liveupdate-demo-json-')), 'summary.json');
    const run = await start('node', ['--nodes', '3', '--fault', '2:prepare-error:0000:05:00.1', '--json', json, '--approve-after', '1']);
    const { code } = await run.exit;
    assert.equal(code, 0, run.output());
    assert.match(run.output(), /✓ sim-node-02: --fault 2:prepare-error:0000:05:00\.1 → Cancelled \(PrepareFailed\)/);
    const summary = JSON.parse(await readFile(json, 'utf8')) as SummaryJson;
    // Halted waits for a human while nodes remain; here the only other node is skipped, so the plan ends Failed.
    assert.ok(['Halted', 'Failed'].includes(summary.plan.phase), summary.plan.phase);
    assert.equal(summary.asExpected, true);
    const faulted = summary.nodes.find((n) => n.node === 'sim-node-02')!;
    assert.deepEqual([faulted.phase, faulted.reason, faulted.kernelAfter], ['Cancelled', 'PrepareFailed', '6.19.0-sim']);
    await assertNothingLeft(run);
  });

  it('a bad --fault is refused before anything starts, naming the flag', async () => {
    const run = await start('node', ['--fault', '1:prepare-error:0000:05:00.1']);
    const { code } = await run.exit;
    assert.equal(code, 2);
    assert.match(run.output(), /--fault 1:prepare-error:0000:05:00\.1: sim-node-01 \(gpu8\) has no passthrough device 0000:05:00\.1; its passthrough devices: 0000:18:00\.0/);
  });

  it('Ctrl-C (SIGINT to the demo) mid-rollout stops everything it started', async () => {
    const run = await start('node', ['--nodes', '2']);
    await appliedPlan(run);
    run.child.kill('SIGINT');
    const { code } = await run.exit;
    assert.equal(code, 130, run.output());
    assert.match(run.output(), /Stopping \(SIGINT\)…/);
    await assertNothingLeft(run);
  });

  it('SIGTERM to the npm process alone (as timeout or CI sends it) reaches the demo, which stops everything', async () => {
    const run = await start('npm', ['--nodes', '2']);
    await appliedPlan(run);
    run.child.kill('SIGTERM');
    await run.exit;
    assert.match(run.output(), /Stopping \(SIGTERM\)…/);
    await assertNothingLeft(run);
  });

  it('SIGHUP (the terminal closed) stops everything it started', async () => {
    const run = await start('node', ['--nodes', '2']);
    await appliedPlan(run);
    run.child.kill('SIGHUP');
    const { code } = await run.exit;
    assert.equal(code, 129, run.output());
    await assertNothingLeft(run);
  });

  it('the npm process killed outright: the demo sees its parent gone and stops everything', async () => {
    const run = await start('npm', ['--nodes', '2']);
    await appliedPlan(run);
    run.child.kill('SIGKILL');
    await run.exit;
    // The demo inherited our pipes from npm: it keeps reporting while it cleans up after its parent.
    const demoPid = Number(await readFile(path.join(run.dir, 'demo.pid'), 'utf8'));
    await waitFor('the demo to end', async () => !(await running(demoPid)), 30_000, 100);
    assert.match(run.output(), /Stopping \(parent process \d+ exited\)…/);
    await assertNothingLeft(run);
  });
});
