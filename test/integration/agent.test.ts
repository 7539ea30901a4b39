// The node agent as its own OS process on a simulated host, against the real apiserver. The test plays the operator:
// it writes the LiveUpdateNode spec and restarts the agent after each simulated kexec, as the fleet would.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { LiveUpdateNode, LiveUpdateNodeStatus } from '../../src/api/node';
import { runAgent } from '../../src/agent/agent';
import { JOURNAL_FILE } from '../../src/agent/journal';
import { SimHost } from '../../src/host/sim/host';
import type { SimLuoApi } from '../../src/host/sim/kernel';
import { loadTopologyFile } from '../../src/host/sim/topology';
import { nodeResource, type ClusterResource } from '../../src/kube/cluster-resource';
import { setBusMaster } from '../../src/host/sim/sysfs-tree';
import { installKernels, type KernelsIndex } from '../../src/sim/kernels';
import { nodePaths } from '../../src/sim/layout';
import { prepareNode } from '../../src/sim/prepare';
import { projectPath } from '../../src/util/package-root';
import { AgentProcess, type SimAgentPaths } from '../support/agent-process';
import { adminKubeConfig, uniqueName } from '../support/kube';
import { waitFor } from '../support/wait';

const TARGET = '6.19.4-lu2';
const topologyFile = (name: string) => projectPath('src', 'host', 'sim', 'topologies', `${name}.json`);

/** The parts of a simulated node's state.json the tests look at. */
interface SimState {
  loaded: unknown;
  boots: number;
  kernel: { mainline: { outgoing: object; incoming: object }; legacy: { state: string } };
}

interface SimNode {
  name: string;
  paths: SimAgentPaths;
  faults: string;
  agent?: AgentProcess;
}

describe('node agent (process, simulated host, real apiserver)', () => {
  let kc: KubeConfig;
  let kubeconfig: string;
  let records: ClusterResource<LiveUpdateNode>;
  let fleetDir: string;
  let kernels: KernelsIndex;
  const nodes: SimNode[] = [];

  before(async () => {
    kc = adminKubeConfig();
    kubeconfig = process.env.LIVEUPDATE_TEST_KUBECONFIG!;
    records = nodeResource(kc);
    fleetDir = await mkdtemp(path.join(os.tmpdir(), 'agent-test-'));
    kernels = await installKernels(path.join(fleetDir, 'images'), fleetDir, [TARGET]);
  });
  after(async () => {
    await Promise.all(nodes.map(async (n) => n.agent?.stop()));
    await Promise.all(nodes.map((n) => records.delete(n.name).catch(() => undefined)));
    await rm(fleetDir, { recursive: true, force: true });
  });

  async function simNode(options: { api?: SimLuoApi; topology?: string; vfioPreservation?: boolean; bindAfterKexec?: 'kernel' | 'user-space' } = {}): Promise<SimNode> {
    const name = uniqueName('agent-node');
    const paths = nodePaths(fleetDir, name);
    const topology = await loadTopologyFile(topologyFile(options.topology ?? 'nvme-sriov'));
    await prepareNode({ dir: paths.simDir, node: name, topology, api: options.api, sharedImageDir: paths.imageDir, vfioPreservation: options.vfioPreservation, bindAfterKexec: options.bindAfterKexec });
    const node: SimNode = { name, paths, faults: path.join(paths.simDir, 'faults.json') };
    await writeFile(node.faults, JSON.stringify({ nodes: {} }));
    nodes.push(node);
    return node;
  }

  async function startAgent(node: SimNode): Promise<string> {
    node.agent = new AgentProcess(kubeconfig, node.name, node.paths, node.faults);
    return node.agent.ready;
  }

  const status = async (node: SimNode): Promise<LiveUpdateNodeStatus> => (await records.get(node.name)).status ?? {};
  const until = (node: SimNode, what: string, check: (s: LiveUpdateNodeStatus) => boolean, timeoutMs = 30_000) =>
    waitFor(`${node.name}: ${what}`, async () => {
      const s = await status(node);
      return check(s) ? s : undefined;
    }, timeoutMs, 100).catch(async (err: Error) => {
      throw new Error(`${err.message}\nlast status: ${JSON.stringify({ ...(await status(node)), devices: undefined })}\nagent log:\n${node.agent?.log ?? ''}`);
    });

  async function request(node: SimNode, spec: Record<string, unknown>): Promise<void> {
    await records.patch(node.name, { spec });
  }

  function prepareSpec(planUid: string, attempt: number, preserve: string[]) {
    const k = kernels[TARGET]!;
    return {
      planRef: { name: 'plan-test', uid: planUid },
      attempt,
      action: 'Prepare',
      target: { release: TARGET, image: k.image, sha256: k.sha256 },
      compatibleFrom: ['6.19.*'],
      preserve: preserve.map((bdf) => ({ bdf })),
    };
  }

  /** Endpoints a VM is doing DMA through: vfio-pci with bus master set. */
  const passthrough = (s: LiveUpdateNodeStatus) => (s.devices ?? []).filter((d) => d.driver === 'vfio-pci' && d.busMaster).map((d) => d.bdf);

  async function events(node: SimNode): Promise<{ reason: string; note: string }[]> {
    const list = await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'default', fieldSelector: `regarding.name=${node.name}` });
    return list.items.map((e) => ({ reason: e.reason ?? '', note: e.note ?? '' }));
  }

  const simState = async (node: SimNode): Promise<SimState> => JSON.parse(await readFile(path.join(node.paths.simDir, 'state.json'), 'utf8')) as SimState;
  const bootCount = async (node: SimNode) => (await simState(node)).boots;

  /** Prepare → Prepared for a fresh node; returns the plan uid and the preserved endpoints. */
  async function prepared(node: SimNode, attempt = 1): Promise<{ uid: string; preserve: string[] }> {
    await startAgent(node);
    const idle = await until(node, 'inventory published', (s) => s.phase === 'Idle' && (s.devices?.length ?? 0) > 0);
    const preserve = passthrough(idle);
    assert.ok(preserve.length > 0);
    const uid = randomUUID();
    await request(node, prepareSpec(uid, attempt, preserve));
    await until(node, 'Prepared', (s) => s.phase === 'Prepared' && s.observedAttempt === attempt && s.observedPlanUID === uid);
    return { uid, preserve };
  }

  /** Execute → the agent process ends with its kernel (exit 0) → restart it as the fleet would. */
  async function executeAndReboot(node: SimNode): Promise<void> {
    await request(node, { action: 'Execute' });
    const exit = await node.agent!.exit;
    assert.deepEqual(exit, { code: 0, signal: null }, node.agent!.log);
    await startAgent(node);
  }

  for (const api of ['mainline', 'legacy'] as const) {
    it(`${api}: prepare → execute → verified with DMA continuous → finish`, async () => {
      const node = await simNode({ api, topology: 'gpu8' });
      const { preserve } = await prepared(node);
      const ready = await status(node);
      assert.equal(ready.preservedDevices, preserve.length);
      assert.ok((ready.preservation ?? []).some((p) => p.flags.includes('busmaster-bridge')), 'bridges above the GPUs are in the closure');
      const bootBefore = ready.bootID;

      await executeAndReboot(node);
      const verified = await until(node, 'Verified', (s) => s.phase === 'Verified');
      assert.ok(verified.kexecIssuedAt);
      assert.notEqual(verified.bootID, bootBefore);
      assert.equal(verified.kernelRelease, TARGET);
      assert.equal(verified.verification?.length, ready.preservation?.length);
      assert.ok(verified.verification?.every((v) => v.busMasterAfter), JSON.stringify(verified.verification));
      const endpoints = verified.verification!.filter((v) => preserve.includes(v.bdf));
      assert.ok(endpoints.every((v) => v.dmaContinuous === true && v.driverAfter === 'vfio-pci'));
      assert.ok((verified.timings?.blackoutMs ?? -1) >= 0 && (verified.timings?.prepareMs ?? -1) >= 0);

      await request(node, { action: 'Finish' });
      await until(node, 'Finished', (s) => s.phase === 'Finished');
      assert.equal(await bootCount(node), 2, 'exactly one kexec');
    });
  }

  it('binds preserved devices that came back unbound (user-space binding) to vfio-pci', async () => {
    const node = await simNode({ bindAfterKexec: 'user-space' });
    await prepared(node);
    await executeAndReboot(node);
    const verified = await until(node, 'Verified', (s) => s.phase === 'Verified' || s.phase === 'Failed');
    assert.equal(verified.phase, 'Verified', JSON.stringify(verified.lastError));
    const after = (verified.devices ?? []).filter((d) => verified.verification?.some((v) => v.bdf === d.bdf && !d.class.startsWith('0604')));
    assert.ok(after.length > 0 && after.every((d) => d.driver === 'vfio-pci'));
    // Bound before retrieve, so finish discards nothing: bus master stays set after it.
    await request(node, { action: 'Finish' });
    const finished = await until(node, 'Finished', (s) => s.phase === 'Finished');
    const endpoints = verified.verification!.map((v) => v.bdf);
    assert.ok((finished.devices ?? []).filter((d) => endpoints.includes(d.bdf)).every((d) => d.busMaster));
  });

  it('re-publishes only on change: an idle agent costs no writes, a device change is reported', async () => {
    const node = await simNode();
    node.agent = new AgentProcess(kubeconfig, node.name, node.paths, node.faults, ['--inventory-interval', '0.2'], 'debug');
    await node.agent.ready;
    const idle = await until(node, 'idle', (s) => s.phase === 'Idle');
    const rv = (await records.get(node.name)).metadata.resourceVersion;
    const passes = () => node.agent!.log.split('status unchanged').length - 1;
    const before = passes();
    await waitFor('five idle inventory passes', () => passes() >= before + 5);
    assert.equal((await records.get(node.name)).metadata.resourceVersion, rv, 'an idle agent wrote its status');
    const vf = passthrough(idle)[0]!;
    await setBusMaster(path.join(node.paths.simDir, 'sysfs'), vf, false); // its VM stopped DMA
    await until(node, 'bus master change reported', (s) => s.devices?.find((d) => d.bdf === vf)?.busMaster === false);
  });

  it('refuses Execute without Prepared for that attempt, and ignores a stale attempt', async () => {
    const node = await simNode();
    await startAgent(node);
    const idle = await until(node, 'idle', (s) => s.phase === 'Idle');
    const uid = randomUUID();
    await request(node, { ...prepareSpec(uid, 2, passthrough(idle)), action: 'Execute' });
    await waitFor('a NotPrepared event', async () => (await events(node)).find((e) => e.reason === 'NotPrepared'));
    assert.equal((await status(node)).phase, 'Idle');
    assert.equal(await bootCount(node), 1, 'no kexec');

    await request(node, { action: 'Prepare' });
    await until(node, 'Prepared', (s) => s.phase === 'Prepared' && s.observedAttempt === 2);
    await request(node, { attempt: 1, action: 'Execute' });
    await waitFor('stale attempt ignored', async () => (await events(node)).find((e) => e.reason === 'StaleAttempt'));
    assert.equal(await bootCount(node), 1, 'no kexec for a stale attempt');
    await request(node, { attempt: 2, action: 'Cancel' });
    await until(node, 'Cancelled', (s) => s.phase === 'Cancelled');
  });

  it('refuses Cancel after the point of no return', async () => {
    const node = await simNode();
    await prepared(node);
    await executeAndReboot(node);
    await until(node, 'Verified', (s) => s.phase === 'Verified');
    await request(node, { action: 'Cancel' });
    const refused = await until(node, 'cancel refused', (s) => s.lastError?.reason === 'PastPointOfNoReturn');
    assert.equal(refused.phase, 'Verified');
  });

  it('a request withdrawn while the agent is inside prepare(): the new key is published first, the attempt is cancelled once prepare ends, the next plan is taken', async () => {
    const node = await simNode();
    await writeFile(node.faults, JSON.stringify({ nodes: { [node.name]: [{ kind: 'slow-step', phase: 'prepare', ms: 3000, times: 1 }] } }));
    await startAgent(node);
    const idle = await until(node, 'idle', (s) => s.phase === 'Idle' && (s.devices?.length ?? 0) > 0);
    const first = randomUUID();
    await request(node, prepareSpec(first, 1, passthrough(idle)));
    // Before any side effect the operator can see that this key is being worked on.
    await until(node, 'Preflight for the new key', (s) => s.phase === 'Preflight' && s.observedPlanUID === first && s.observedAttempt === 1, 2500);
    // The operator gives the node up (abort, deletion, timeout) while prepare() runs.
    await request(node, { planRef: null, action: 'None' });
    await until(node, 'the withdrawn attempt cancelled', (s) => s.phase === 'Cancelled' && s.observedPlanUID === first);
    const state = await simState(node);
    assert.equal(state.loaded, null, 'nothing stays loaded');
    assert.deepEqual(state.kernel.mainline.outgoing, {}, 'no LUO session left');
    // Another plan claims the node: no OtherPlanInProgress, it prepares.
    const second = randomUUID();
    await request(node, prepareSpec(second, 1, passthrough(idle)));
    await until(node, 'the next plan prepared', (s) => s.phase === 'Prepared' && s.observedPlanUID === second);
    // A spec that names another key while one is Prepared: the old attempt is cancelled, the new one prepared.
    const third = randomUUID();
    await request(node, prepareSpec(third, 1, passthrough(idle)));
    await until(node, 'the third plan prepared', (s) => s.phase === 'Prepared' && s.observedPlanUID === third);
    assert.ok(!(await events(node)).some((e) => e.reason === 'OtherPlanInProgress'), 'no request was ignored');
    assert.equal(await bootCount(node), 1);
  });

  it('an Execute past its deadline (spec.executeBy) is refused: the attempt is cancelled, nothing kexecs', async () => {
    const node = await simNode();
    const { uid } = await prepared(node);
    await request(node, { action: 'Execute', executeBy: new Date(Date.now() - 60_000).toISOString() });
    const cancelled = await until(node, 'Cancelled', (s) => s.phase === 'Cancelled' && s.observedPlanUID === uid);
    assert.equal(cancelled.lastError?.reason, 'ExecuteExpired');
    assert.match(cancelled.lastError?.message ?? '', /executeBy/);
    assert.equal(cancelled.kexecIssuedAt, undefined);
    const state = await simState(node);
    assert.equal(state.loaded, null, 'nothing stays loaded');
    assert.equal(await bootCount(node), 1, 'no kexec');
  });

  it('fails preflight, loads nothing, when the running kernel cannot preserve VFIO devices (Linux 7.2)', async () => {
    const node = await simNode({ vfioPreservation: false });
    await startAgent(node);
    const idle = await until(node, 'idle', (s) => s.phase === 'Idle');
    await request(node, prepareSpec(randomUUID(), 1, passthrough(idle)));
    const failed = await until(node, 'Failed', (s) => s.phase === 'Failed');
    assert.equal(failed.lastError?.reason, 'NotPreservable');
    assert.match(failed.lastError?.message ?? '', /0000:05:00\.[0-7].*ENOENT/);
    const state = await simState(node);
    assert.equal(state.loaded, null, 'nothing stays loaded');
  });

  it('refuses an incompatible running kernel and a device that is not passed through, naming them', async () => {
    const node = await simNode();
    await startAgent(node);
    await until(node, 'idle', (s) => s.phase === 'Idle');
    await request(node, { ...prepareSpec(randomUUID(), 1, ['0000:00:01.0']), compatibleFrom: ['7.*'] });
    const incompatible = await until(node, 'Failed', (s) => s.phase === 'Failed');
    assert.equal(incompatible.lastError?.reason, 'IncompatibleKernel');
    assert.match(incompatible.lastError?.message ?? '', /6\.19\.0-sim/);
    await request(node, { ...prepareSpec(randomUUID(), 2, ['0000:05:00.3']) });
    const notReady = await until(node, 'Failed attempt 2', (s) => s.phase === 'Failed' && s.observedAttempt === 2);
    assert.equal(notReady.lastError?.reason, 'DeviceNotReady');
    assert.match(notReady.lastError?.message ?? '', /0000:05:00\.3/);
  });

  it('mainline: an agent killed while Prepared comes back Cancelled(AgentRestarted), and never kexecs', async () => {
    const node = await simNode({ api: 'mainline' });
    await prepared(node);
    node.agent!.kill('SIGKILL');
    await node.agent!.exit;
    await startAgent(node);
    const cancelled = await until(node, 'Cancelled', (s) => s.phase === 'Cancelled');
    assert.equal(cancelled.lastError?.reason, 'AgentRestarted');
    await request(node, { action: 'Execute' });
    await waitFor('Execute after the restart refused', async () => (await events(node)).some((e) => e.reason === 'NotPrepared'));
    assert.equal(await bootCount(node), 1);
  });

  it('legacy: an agent killed while Prepared resumes Prepared (the kernel kept the state) and can execute', async () => {
    const node = await simNode({ api: 'legacy' });
    await prepared(node);
    node.agent!.kill('SIGKILL');
    await node.agent!.exit;
    await startAgent(node);
    await until(node, 'still Prepared', (s) => s.phase === 'Prepared' && s.luo?.state === 'prepared');
    await executeAndReboot(node);
    await until(node, 'Verified', (s) => s.phase === 'Verified');
  });

  it('an agent killed after committing to kexec but before it happened reports KexecInterrupted and never kexecs', async () => {
    const node = await simNode();
    await writeFile(node.faults, JSON.stringify({ nodes: { [node.name]: [{ kind: 'agent-crash', phase: 'execute', when: 'before' }] } }));
    await prepared(node);
    await request(node, { action: 'Execute' });
    const exit = await node.agent!.exit;
    assert.equal(exit.signal, 'SIGKILL');
    assert.ok((await status(node)).kexecIssuedAt, 'kexecIssuedAt was published before the crash');
    await startAgent(node);
    const failed = await until(node, 'Failed', (s) => s.phase === 'Failed');
    assert.equal(failed.lastError?.reason, 'KexecInterrupted');
    assert.equal(await bootCount(node), 1, 'no kexec');
  });

  /**
   * An agent killed (SIGKILL, injected by the simulator) at each step boundary, restarted by a supervisor at once (and
   * after each simulated kexec), while the test keeps asking for the next action: it must end in the right phase and
   * never kexec twice, nor kexec without a Prepared attempt.
   */
  const crashPoints: [phase: string, when: 'before' | 'after', outcome: string][] = [
    ['load', 'before', 'Cancelled/AgentRestarted'],
    ['load', 'after', 'Cancelled/AgentRestarted'],
    ['prepare', 'before', 'Cancelled/AgentRestarted'],
    ['prepare', 'after', 'Cancelled/AgentRestarted'],
    ['execute', 'before', 'Failed/KexecInterrupted'],
    ['retrieve', 'before', 'Finished'],
    ['retrieve', 'after', 'Finished'],
    ['finish', 'before', 'Finished'],
    ['finish', 'after', 'Finished'],
  ];
  for (const [phase, when, outcome] of crashPoints) {
    it(`killed ${when} ${phase}: ends ${outcome}, at most one kexec`, async () => {
      const node = await simNode();
      await writeFile(node.faults, JSON.stringify({ nodes: { [node.name]: [{ kind: 'agent-crash', phase, when, times: 1 }] } }));
      let supervising = true;
      let starts = 0;
      const supervise = async (): Promise<void> => {
        while (supervising) {
          starts++;
          node.agent = new AgentProcess(kubeconfig, node.name, node.paths, node.faults);
          const exit = await node.agent.exit;
          if (exit.code === 3) return;
        }
      };
      const supervisor = supervise();
      try {
        const idle = await until(node, 'idle', (s) => s.phase === 'Idle' && (s.devices?.length ?? 0) > 0);
        await request(node, prepareSpec(randomUUID(), 1, passthrough(idle)));
        const prepared = await until(node, 'prepare settled', (s) => ['Prepared', 'Cancelled', 'Failed'].includes(s.phase ?? ''));
        if (prepared.phase === 'Prepared') {
          await request(node, { action: 'Execute' });
          const executed = await until(node, 'execute settled', (s) => ['Verified', 'Cancelled', 'Failed'].includes(s.phase ?? ''));
          if (executed.phase === 'Verified') {
            await request(node, { action: 'Finish' });
            await until(node, 'finish settled', (s) => ['Finished', 'Failed'].includes(s.phase ?? ''));
          }
        }
        const final = await status(node);
        const [expectedPhase, expectedReason] = outcome.split('/');
        assert.equal(final.phase, expectedPhase, JSON.stringify(final.lastError));
        if (expectedReason) assert.equal(final.lastError?.reason, expectedReason);
        const boots = await bootCount(node);
        assert.equal(boots, expectedPhase === 'Finished' ? 2 : 1, 'kexec count');
        assert.ok(starts >= 2, 'the agent was killed and restarted');
        if (expectedPhase !== 'Finished') {
          const state = await simState(node);
          assert.equal(state.loaded, null, 'nothing stays loaded');
          assert.deepEqual(state.kernel.mainline.outgoing, {}, 'no LUO session left');
        }
        if (phase === 'retrieve' && when === 'after') {
          // The kernel closed the dead agent's retrieved session (an implicit finish): the restarted agent could
          // not retrieve it again; only the journal written at retrieval proved this boot was the live update.
          const kmsg = await readFile(path.join(node.paths.simDir, 'kmsg.log'), 'utf8');
          assert.match(kmsg, /retrieved session luo-op:\S+ closed with its holder: finished/);
          assert.deepEqual((await simState(node)).kernel.mainline.incoming, {});
        }
      } finally {
        supervising = false;
        await node.agent?.stop();
        await supervisor;
      }
    });
  }

  it('the LUO helper dies while Prepared: Execute is refused with Cancelled(HelperLost), no kexec, nothing loaded', async () => {
    const node = await simNode({ api: 'mainline' });
    await writeFile(node.faults, JSON.stringify({ nodes: { [node.name]: [{ kind: 'helper-crash', times: 1 }] } }));
    const { uid } = await prepared(node);
    await request(node, { action: 'Execute' });
    const cancelled = await until(node, 'Cancelled', (s) => s.phase === 'Cancelled' || s.phase === 'Failed' || s.kexecIssuedAt !== undefined, 10_000);
    assert.equal(cancelled.phase, 'Cancelled', JSON.stringify(cancelled.lastError));
    assert.equal(cancelled.lastError?.reason, 'HelperLost');
    assert.match(cancelled.lastError?.message ?? '', /no longer held/);
    assert.equal(cancelled.observedPlanUID, uid);
    assert.equal(cancelled.kexecIssuedAt, undefined, 'never committed to kexec');
    assert.equal(await bootCount(node), 1, 'no kexec');
    const state = await simState(node);
    assert.equal(state.loaded, null, 'the kernel image was unloaded');
    assert.equal(await Promise.race([node.agent!.exit.then(() => 'exited'), Promise.resolve('running')]), 'running', 'the agent keeps running');
  });

  it('/dev/liveupdate held by another process: the agent still publishes, says LuoBusy naming the pid, and recovers', async () => {
    const node = await simNode();
    const holderFd = path.join(node.paths.simDir, 'proc/777/fd');
    await mkdir(holderFd, { recursive: true });
    await symlink('/dev/liveupdate', path.join(holderFd, '3'));
    node.agent = new AgentProcess(kubeconfig, node.name, node.paths, node.faults, ['--inventory-interval', '1']);
    const ready = await Promise.race([node.agent.ready.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 20_000).unref())]);
    assert.ok(ready, `the agent published its first status although /dev/liveupdate is busy:\n${node.agent.log}`);
    const busy = await until(node, 'LuoBusy', (s) => s.lastError?.reason === 'LuoBusy');
    assert.match(busy.lastError?.message ?? '', /\/dev\/liveupdate is busy \(EBUSY\), held by pid 777/);
    assert.ok(busy.bootID && busy.kernelRelease && (busy.devices?.length ?? 0) > 0, 'boot, kernel and devices are published all the same');
    assert.equal(busy.luo, undefined, 'the API could not be told');
    await rm(path.join(node.paths.simDir, 'proc/777'), { recursive: true });
    const free = await until(node, 'LUO detected', (s) => s.luo?.api === 'mainline');
    assert.equal(free.lastError, undefined);
  });

  const afterBootFaults: [string, object, string][] = [
    ['cold reboot', { kind: 'cold-reboot' }, 'ColdRebooted'],
    ['bus master lost', { kind: 'bus-master-lost' }, 'DMALost'],
    ['a native driver claims the device', { kind: 'native-driver-after-kexec', device: '0000:05:00.1' }, 'DriverChanged'],
  ];
  for (const [what, fault, reason] of afterBootFaults) {
    it(`after kexec, ${what} → Failed(${reason})`, async () => {
      const node = await simNode();
      await writeFile(node.faults, JSON.stringify({ nodes: { [node.name]: [fault] } }));
      await prepared(node);
      await executeAndReboot(node);
      const failed = await until(node, 'Failed', (s) => s.phase === 'Failed');
      assert.equal(failed.lastError?.reason, reason, failed.lastError?.message);
      assert.ok(failed.kexecIssuedAt);
    });
  }

  const prepareFaults: [string, object, string][] = [
    ['kexec load refused', { kind: 'kexec-load-error' }, 'KexecLoadFailed'],
    ['a device fails prepare', { kind: 'prepare-error', device: '0000:05:00.1', errno: 'EBUSY' }, 'PrepareFailed'],
  ];
  for (const [what, fault, reason] of prepareFaults) {
    it(`${what} → Failed(${reason}) with nothing left prepared or loaded`, async () => {
      const node = await simNode();
      await writeFile(node.faults, JSON.stringify({ nodes: { [node.name]: [fault] } }));
      await startAgent(node);
      const idle = await until(node, 'idle', (s) => s.phase === 'Idle');
      await request(node, prepareSpec(randomUUID(), 1, passthrough(idle)));
      const failed = await until(node, 'Failed', (s) => s.phase === 'Failed');
      assert.equal(failed.lastError?.reason, reason);
      const state = await simState(node);
      assert.equal(state.loaded, null);
      assert.deepEqual(state.kernel.mainline.outgoing, {}, 'no LUO session left');
    });
  }

  for (const api of ['mainline', 'legacy'] as const) {
    it(`${api}: the kernel refuses kexec (freeze fails) → Failed(KexecRefused) on the old kernel, LUO cancelled, nothing loaded`, async () => {
      const node = await simNode({ api });
      await writeFile(node.faults, JSON.stringify({ nodes: { [node.name]: [{ kind: 'freeze-error' }] } }));
      const { uid } = await prepared(node);
      const before = await status(node);
      await request(node, { action: 'Execute' });
      const failed = await until(node, 'Failed', (s) => s.phase === 'Failed');
      assert.equal(failed.lastError?.reason, 'KexecRefused');
      assert.match(failed.lastError?.message ?? '', /still on 6\.19\.0-sim/);
      assert.equal(failed.bootID, before.bootID);
      assert.equal(failed.kernelRelease, before.kernelRelease);
      assert.equal(failed.observedPlanUID, uid);
      const state = await simState(node);
      assert.equal(state.loaded, null);
      assert.deepEqual(state.kernel.mainline.outgoing, {});
      assert.equal(state.kernel.legacy.state, 'normal');
      assert.equal(await bootCount(node), 1);
    });

    it(`${api}: Cancel while Prepared → Cancelled with nothing prepared or loaded`, async () => {
      const node = await simNode({ api });
      await prepared(node);
      await request(node, { action: 'Cancel' });
      const cancelled = await until(node, 'Cancelled', (s) => s.phase === 'Cancelled');
      assert.equal(cancelled.lastError, undefined);
      const state = await simState(node);
      assert.equal(state.loaded, null);
      assert.deepEqual(state.kernel.mainline.outgoing, {});
      assert.equal(state.kernel.legacy.state, 'normal');
    });
  }

  it('finish failing → Failed(FinishFailed) after the point of no return', async () => {
    const node = await simNode();
    await writeFile(node.faults, JSON.stringify({ nodes: { [node.name]: [{ kind: 'finish-error' }] } }));
    await prepared(node);
    await executeAndReboot(node);
    await until(node, 'Verified', (s) => s.phase === 'Verified');
    await request(node, { action: 'Finish' });
    const failed = await until(node, 'Failed', (s) => s.phase === 'Failed');
    assert.equal(failed.lastError?.reason, 'FinishFailed');
  });

  it('a node that never returns from kexec makes the restarted agent exit 3 with a clear message', async () => {
    const node = await simNode();
    await writeFile(node.faults, JSON.stringify({ nodes: { [node.name]: [{ kind: 'never-returns' }] } }));
    await prepared(node);
    await request(node, { action: 'Execute' });
    assert.equal((await node.agent!.exit).code, 0);
    node.agent = new AgentProcess(kubeconfig, node.name, node.paths, node.faults);
    const exit = await node.agent.exit;
    assert.equal(exit.code, 3);
    assert.match(node.agent.log, /never came back/);
  });

  it('a corrupt journal: Failed(JournalCorrupt) naming the file, and no action taken', async () => {
    const node = await simNode();
    await writeFile(path.join(node.paths.stateDir, JOURNAL_FILE), '{"version": 1, "planUid": ');
    await startAgent(node);
    const failed = await until(node, 'Failed', (s) => s.phase === 'Failed');
    assert.equal(failed.lastError?.reason, 'JournalCorrupt');
    assert.ok(failed.lastError?.message.includes(path.join(node.paths.stateDir, JOURNAL_FILE)));
    await request(node, prepareSpec(randomUUID(), 1, ['0000:05:00.1']));
    await waitFor('the request was seen', async () => (await events(node)).filter((e) => e.reason === 'JournalCorrupt').length > 0);
    const state = await simState(node);
    assert.equal(state.loaded, null, 'nothing was loaded');
  });

  it('a journal that cannot be written: Failed(JournalWriteFailed) for the request, naming errno and file, nothing loaded', async () => {
    const node = await simNode();
    // The temp file's name taken by a directory: the journal's open() fails (EISDIR) as a full disk's write would.
    const temp = path.join(node.paths.stateDir, `${JOURNAL_FILE}.tmp`);
    await mkdir(temp, { recursive: true });
    await startAgent(node);
    const idle = await until(node, 'idle', (s) => s.phase === 'Idle' && (s.devices?.length ?? 0) > 0);
    const uid = randomUUID();
    await request(node, prepareSpec(uid, 1, passthrough(idle)));
    const failed = await until(node, 'JournalWriteFailed', (s) => s.lastError?.reason === 'JournalWriteFailed');
    assert.equal(failed.phase, 'Failed');
    assert.equal(failed.observedPlanUID, uid, 'reported for the key the operator asked about');
    assert.equal(failed.observedAttempt, 1);
    assert.ok(failed.lastError?.message.includes(`${temp}: EISDIR`), failed.lastError?.message);
    const state = await simState(node);
    assert.equal(state.loaded, null, 'nothing was loaded');
    assert.deepEqual(state.kernel.mainline.outgoing, {}, 'no LUO session held');
  });

  it('a state directory on tmpfs: Prepare refused (StateDirNotDurable) naming the directory and file system', async () => {
    const node = await simNode();
    await mkdir(node.paths.stateDir, { recursive: true });
    const stateDir = await realpath(node.paths.stateDir);
    // The simulated machine mounts a tmpfs over the agent's state directory (its fake /proc/self/mountinfo).
    await appendFile(path.join(node.paths.simDir, 'proc/self/mountinfo'), `40 21 0:52 / ${stateDir} rw,nosuid,nodev - tmpfs tmpfs rw,size=65536k\n`);
    await startAgent(node);
    const idle = await until(node, 'idle', (s) => s.phase === 'Idle' && (s.devices?.length ?? 0) > 0);
    await request(node, prepareSpec(randomUUID(), 1, passthrough(idle)));
    const failed = await until(node, 'Failed', (s) => s.phase === 'Failed');
    assert.equal(failed.lastError?.reason, 'StateDirNotDurable', failed.lastError?.message);
    assert.ok(failed.lastError?.message.includes(`${node.paths.stateDir} is on tmpfs (mounted at ${stateDir})`), failed.lastError?.message);
    const state = await simState(node);
    assert.equal(state.loaded, null, 'nothing was loaded');
    assert.deepEqual(state.kernel.mainline.outgoing, {});
  });

  it('two attempts in a row: a failed attempt, then a new attempt that succeeds', async () => {
    const node = await simNode();
    await writeFile(node.faults, JSON.stringify({ nodes: { [node.name]: [{ kind: 'kexec-load-error', times: 1 }] } }));
    await startAgent(node);
    const idle = await until(node, 'idle', (s) => s.phase === 'Idle');
    const uid = randomUUID();
    await request(node, prepareSpec(uid, 1, passthrough(idle)));
    await until(node, 'attempt 1 failed', (s) => s.phase === 'Failed' && s.observedAttempt === 1);
    await request(node, { attempt: 2 });
    await until(node, 'attempt 2 prepared', (s) => s.phase === 'Prepared' && s.observedAttempt === 2);
    await executeAndReboot(node);
    await until(node, 'Verified', (s) => s.phase === 'Verified' && s.observedAttempt === 2);
  });

  it('in process: a stop that comes before or while the agent starts is not lost (it returns stopped, having done nothing)', async () => {
    for (const when of ['before', 'during start-up'] as const) {
      const node = await simNode();
      const host = await SimHost.open({ dir: node.paths.simDir, node: node.name, imageDir: node.paths.imageDir });
      const stop = new AbortController();
      if (when === 'before') stop.abort();
      const run = runAgent({ kc, node: node.name, host, stateDir: node.paths.stateDir, signal: stop.signal });
      if (when === 'during start-up') stop.abort(); // runAgent is at its first await
      // Before the fix the agent never ended here; the deadline only bounds the wait.
      const exit = await Promise.race([run, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 20_000).unref())]);
      assert.deepEqual(exit, { kind: 'stopped' }, `stop ${when}`);
      assert.equal(await records.get(node.name).catch(() => undefined), undefined, `stop ${when}: no LiveUpdateNode was created`);
    }
  });
});
