// The simulated fleet on the real apiserver: Node objects and their Ready condition as a kubelet would keep them,
// agent supervision (restart after kexec, never after node-down, at once after a crash), and that nothing it started
// outlives it. The agents are a stand-in with the agent's process contract (test/fixtures/sim-agent-stand-in.ts),
// and in-process runners that drive the real SimHost.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { SimFleet, type InProcessAgent } from '../../src/sim/fleet';
import { HYPERVISOR_LABEL, TOPOLOGY_LABEL } from '../../src/sim/layout';
import type { NodeLife } from '../../src/sim/ready';
import { adminKubeConfig, uniqueName } from '../support/kube';
import { waitFor } from '../support/wait';
import { isAlive } from '../../src/util/process-alive';

const root = path.resolve(__dirname, '../..');
const kc = adminKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const standIn = [process.execPath, '-r', 'ts-node/register', path.join(root, 'test/fixtures/sim-agent-stand-in.ts')];

const created: string[] = [];
after(async () => {
  await Promise.all(created.map((name) => core.deleteNode({ name }).catch(() => undefined)));
});

async function fleetDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'sim-fleet-'));
}

const readyOf = (node: V1Node) => node.status?.conditions?.find((c) => c.type === 'Ready');

/** Waits until the Node's Ready condition is `status` (and `reason`, when given); returns the Node. */
function waitReady(name: string, status: string, reason?: string, timeoutMs = 30_000): Promise<V1Node> {
  return waitFor(
    `${name} Ready ${status}${reason ? ` (${reason})` : ''}`,
    async () => {
      const node = await core.readNode({ name });
      const ready = readyOf(node);
      return ready?.status === status && (!reason || ready.reason === reason) && node;
    },
    timeoutMs,
  );
}

const pidsOf = async (stateDir: string): Promise<number[]> =>
  (await readFile(path.join(stateDir, 'pids'), 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);

describe('liveupdate sim fleet', () => {
  it('process mode: Node objects with labels, Ready through a kexec, a node down for good, a crash, and nothing left after stop', async () => {
    const prefix = uniqueName('simfleet');
    const dir = await fleetDir();
    const fleet = await SimFleet.start({ kc, dir, nodes: 3, prefix, rebootSeconds: 0.3, agents: { kind: 'process', command: standIn } });
    created.push(...fleet.nodes);
    try {
      const [first, second, third] = fleet.nodes as [string, string, string];
      assert.deepEqual(fleet.nodes, [`${prefix}-01`, `${prefix}-02`, `${prefix}-03`]);
      const nodes = await Promise.all(fleet.nodes.map((n) => waitReady(n, 'True', 'KubeletReady')));
      assert.deepEqual(
        nodes.map((n) => n.metadata?.labels?.['topology.kubernetes.io/zone']),
        ['zone-a', 'zone-b', 'zone-c'],
      );
      for (const node of nodes) {
        assert.equal(node.metadata?.labels?.['kubernetes.io/hostname'], node.metadata?.name);
        assert.equal(node.metadata?.labels?.[HYPERVISOR_LABEL], 'true');
      }
      assert.deepEqual(
        nodes.map((n) => n.metadata?.labels?.[TOPOLOGY_LABEL]),
        ['gpu8', 'nvme-sriov', 'mixed-switch'],
      );
      assert.equal(nodes[0]!.metadata?.labels?.['nvidia.com/gpu.product'], 'H100-SXM5-80GB');
      const bootFile = path.join(dir, first, 'proc/sys/kernel/random/boot_id');
      assert.equal(nodes[0]!.status?.nodeInfo?.bootID, (await readFile(bootFile, 'utf8')).trim());
      assert.equal(nodes[0]!.status?.nodeInfo?.kernelVersion, '6.19.0-sim');

      // A simulated kexec: NotReady (KernelRebooting) until the restarted agent's ready line, with the new boot id.
      const firstPid = fleet.pid(first)!;
      await writeFile(path.join(dir, first, 'agent-state/kexec'), '');
      await waitReady(first, 'False', 'KernelRebooting');
      const back = await waitReady(first, 'True', 'KubeletReady');
      assert.equal(back.status?.nodeInfo?.bootID, (await readFile(bootFile, 'utf8')).trim());
      assert.notEqual(fleet.pid(first), firstPid);
      assert.match(await readFile(path.join(dir, first, 'agent.log'), 'utf8'), /kexec: rebooting/, "the agent's stderr goes to its log");

      // Never came back from the kexec: Unknown, and its agent is not started again.
      await writeFile(path.join(dir, second, 'agent-state/down'), '');
      await writeFile(path.join(dir, second, 'agent-state/kexec'), '');
      const down = await waitReady(second, 'Unknown', 'NodeStatusUnknown');
      assert.match(readyOf(down)!.message!, /never-returns/);
      assert.deepEqual(fleet.life(second), { phase: 'down', reason: 'simulated node down: never-returns' });
      assert.equal(fleet.pid(second), undefined);
      assert.equal((await pidsOf(path.join(dir, second, 'agent-state'))).length, 2, 'the first run and the one that found the node down');

      // An agent killed by a signal (an injected crash) starts again at once; the machine stays Ready.
      const crashed = fleet.pid(third)!;
      process.kill(crashed, 'SIGKILL');
      await waitFor('the crashed agent restarted', () => (fleet.pid(third) ?? crashed) !== crashed);
      await waitFor('its ready line', async () => (await pidsOf(path.join(dir, third, 'agent-state'))).length === 2);
      assert.equal(readyOf(await core.readNode({ name: third }))?.status, 'True');
    } finally {
      await fleet.stop();
    }
    assert.ok(fleet.startedPids().length >= 6);
    assert.deepEqual(fleet.startedPids().filter(isAlive), [], 'no agent outlives stop()');
    await rm(dir, { recursive: true, force: true });
  });

  it('in-process mode: agents on the real SimHost kexec into the kernel kernels.json names, and an injected crash restarts the run', async () => {
    const prefix = uniqueName('simfleet-inproc');
    const dir = await fleetDir();
    const faultFile = path.join(dir, 'faults.json');
    await writeFile(faultFile, JSON.stringify({ nodes: { [`${prefix}-02`]: [{ kind: 'agent-crash', phase: 'load', times: 1 }] } }));
    const lives: Record<string, NodeLife['phase'][]> = {};
    let fleet: SimFleet | undefined = undefined;
    // A minimal agent: reports ready, then kexecs once into 6.20.0-sim through the path kernels.json gives every node.
    const run: InProcessAgent = async ({ host, signal, onReady }) => {
      const identity = await host.identity();
      onReady(identity.bootId);
      if (identity.kernelRelease === '6.20.0-sim') {
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        return { kind: 'stopped' };
      }
      const { image, sha256 } = fleet!.kernels['6.20.0-sim']!;
      await host.kexec.load({ image, sha256, cmdline: { append: [], remove: [], reuse: true } });
      await host.kexec.execute();
      return { kind: 'rebooted' };
    };
    fleet = await SimFleet.start({
      kc,
      dir,
      nodes: 2,
      prefix,
      faultFile,
      rebootSeconds: 0.1,
      kernels: ['6.20.0-sim'],
      agents: { kind: 'in-process', run },
      onLife: (node, life) => (lives[node] ??= []).push(life.phase),
    });
    created.push(...fleet.nodes);
    try {
      assert.deepEqual(Object.keys(JSON.parse(await readFile(path.join(dir, 'kernels.json'), 'utf8')) as object), ['6.20.0-sim']);
      for (const name of fleet.nodes) {
        const node = await waitFor(`${name} on 6.20.0-sim and Ready`, async () => {
          const n = await core.readNode({ name });
          return n.status?.nodeInfo?.kernelVersion === '6.20.0-sim' && readyOf(n)?.status === 'True' && n;
        });
        assert.equal(node.status?.nodeInfo?.bootID, (await readFile(path.join(dir, name, 'proc/sys/kernel/random/boot_id'), 'utf8')).trim());
        assert.deepEqual(lives[name], ['up', 'rebooting', 'up'], 'a crash is no change of the node');
      }
      assert.match(await readFile(path.join(dir, `${prefix}-02`, 'kmsg.log'), 'utf8'), /agent crashed before load/);
    } finally {
      await fleet.stop();
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('the CLI: creates the fleet, prints its ready line, and SIGTERM stops every agent it started', async () => {
    const prefix = uniqueName('simfleet-cli');
    const dir = await fleetDir();
    const nodes = [`${prefix}-01`, `${prefix}-02`];
    created.push(...nodes);
    const cli = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register',
        path.join(root, 'src/cli/main.ts'),
        'sim',
        'fleet',
        ...['--kubeconfig', process.env.LIVEUPDATE_TEST_KUBECONFIG!, '--dir', dir, '--nodes', '2', '--prefix', prefix],
        ...['--kernels', '6.19.4-lu2', '--topologies', path.join(root, 'src/host/sim/topologies/nvme-sriov.json')],
        ...['--agent-command', JSON.stringify(standIn)],
      ],
      { cwd: root, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    cli.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    cli.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)));
    try {
      await waitFor('the fleet ready line', () => stdout.includes('liveupdate-sim-fleet ready 2\n'), 60_000);
      for (const name of nodes) assert.equal((await waitReady(name, 'True')).metadata?.labels?.[TOPOLOGY_LABEL], 'nvme-sriov');
      const kernels = JSON.parse(await readFile(path.join(dir, 'kernels.json'), 'utf8')) as Record<string, { image: string }>;
      assert.ok(existsSync(kernels['6.19.4-lu2']!.image));
      const pids = (await Promise.all(nodes.map((n) => pidsOf(path.join(dir, n, 'agent-state'))))).flat();
      assert.equal(pids.length, 2);
      assert.deepEqual(pids.filter(isAlive), pids);

      cli.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      assert.deepEqual(pids.filter(isAlive), [], 'every agent stopped with the fleet');
    } finally {
      cli.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the CLI names the bad input', async () => {
    const run = (...args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['-r', 'ts-node/register', path.join(root, 'src/cli/main.ts'), 'sim', ...args], {
          cwd: root,
          env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('exit', (code) => resolve({ code, stderr }));
      });
    const kubeconfig = ['--kubeconfig', process.env.LIVEUPDATE_TEST_KUBECONFIG!];
    const dir = await fleetDir();
    const cases: [string[], RegExp][] = [
      [['fleet', ...kubeconfig, '--dir', dir, '--nodes', '0'], /--nodes must be a whole number >= 1, got "0"/],
      [['fleet', ...kubeconfig, '--dir', dir, '--nodes', '2', '--api', 'modern'], /--api: unknown LUO api "modern"/],
      [['fleet', ...kubeconfig, '--dir', dir, '--nodes', '2', '--topologies', 'missing.json'], /--topologies missing.json: ENOENT/],
      [['node', '--dir', dir, '--topology', 'missing.json'], /--topology missing.json: ENOENT/],
      [['fleet', ...kubeconfig, '--dir', dir, '--nodes', '2', '--frobnicate'], /Unknown option '--frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await run(...args);
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, message);
    }
    await rm(dir, { recursive: true, force: true });
  });
});
