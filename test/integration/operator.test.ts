// The operator as its own process against the real apiserver, driving real `liveupdate agent` processes on a
// simulated fleet (SimFleet plays the kubelet). Each test has its own fleet and plan; one operator serves them all.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { CoreV1Api, EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { LiveUpdateNode } from '../../src/api/node';
import type { LiveUpdatePlan, LiveUpdatePlanStatus } from '../../src/api/plan';
import { nodeResource, planResource, type ClusterResource } from '../../src/kube/cluster-resource';
import { patchNode } from '../../src/kube/core-writes';
import { CORDONED_BY_ANNOTATION, ROLLOUT_ANNOTATION } from '../../src/operator/model';
import { readMark } from '../../src/operator/views';
import { SimFleet } from '../../src/sim/fleet';
import { nodePaths } from '../../src/sim/layout';
import { writeNodeStatus } from '../../src/sim/node-object';
import { planFor, RecordWatch, startFleet, stopFleet, type E2eFleet } from '../support/e2e';
import { Informer } from '../../src/kube/informer';
import { planKind } from '../../src/kube/kinds';
import { adminKubeConfig, uniqueName } from '../support/kube';
import { OperatorProcess } from '../support/operator-process';
import { waitFor } from '../support/wait';

const TARGET = '6.19.4-lu2';
// Other test files share this apiserver and create plans (the examples select nodes like ours): the operators here
// reconcile only plans carrying this label, as operators sharding a cluster would.
const SCOPE = { 'liveupdate.dev/test-scope': 'operator-test' };
const SCOPE_LABEL = 'liveupdate.dev/test-scope=operator-test';

describe('operator (process) with agents on a simulated fleet', () => {
  let kc: KubeConfig;
  let kubeconfig: string;
  let plans: ClusterResource<LiveUpdatePlan>;
  let records: ClusterResource<LiveUpdateNode>;
  let core: CoreV1Api;
  let dir: string;
  let operator: OperatorProcess;
  /** The running test's fleets: stopped after each test, so idle agents of finished tests do not load the 2 cores. */
  const fleets: E2eFleet[] = [];

  before(async () => {
    kc = adminKubeConfig();
    kubeconfig = process.env.LIVEUPDATE_TEST_KUBECONFIG!;
    plans = planResource(kc);
    records = nodeResource(kc);
    core = kc.makeApiClient(CoreV1Api);
    dir = await mkdtemp(path.join(os.tmpdir(), 'operator-test-'));
    operator = new OperatorProcess(kubeconfig, ['--plan-selector', SCOPE_LABEL]);
  });
  afterEach(() => Promise.all(fleets.splice(0).map((f) => stopFleet(kc, f))));
  after(async () => {
    await operator?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Fault files live at <dir>/<prefix>-faults.json (startFleet's layout): tests write their faults there. */
  async function fleet(nodes: number, options: { api?: 'mainline' | 'legacy' } = {}): Promise<SimFleet> {
    const started = await startFleet(kc, kubeconfig, dir, nodes, { ...options, prefix: uniqueName('op') });
    fleets.push(started);
    return started.fleet;
  }

  const plan = (f: SimFleet, strategy: object = {}, extra: Record<string, unknown> = {}) => planFor(f, strategy, extra, SCOPE);

  const status = async (name: string): Promise<LiveUpdatePlanStatus> => (await plans.get(name)).status ?? {};
  const until = (name: string, what: string, check: (s: LiveUpdatePlanStatus) => boolean, timeoutMs = 90_000) =>
    waitFor(`${name}: ${what}`, async () => {
      const s = await status(name);
      return check(s) ? s : undefined;
    }, timeoutMs, 200).catch(async (err: Error) => {
      throw new Error(`${err.message}\nlast status: ${JSON.stringify(await status(name))}\noperator log tail:\n${operator.log.slice(-6000)}`);
    });

  const nodeObject = (name: string) => core.readNode({ name });
  const kernelOf = async (node: string) => (await records.get(node)).status?.kernelRelease;

  async function planEvents(name: string): Promise<string[]> {
    const list = await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: 'default', fieldSelector: `regarding.name=${name}` });
    return list.items.map((e) => e.reason ?? '');
  }

  it('happy path: 6 nodes, every one live-updated with DMA kept, uncordoned, claims released', async () => {
    const f = await fleet(6);
    const body = plan(f);
    await plans.create(body);
    const done = await until(body.metadata.name, 'Completed', (s) => s.phase === 'Completed');
    assert.equal(done.summary?.succeeded, 6);
    assert.equal(done.summary?.failed, 0);
    assert.ok(done.startedAt && done.completedAt);
    assert.equal(done.observedGeneration, (await plans.get(body.metadata.name)).metadata.generation);
    for (const n of f.nodes) {
      const record = await records.get(n);
      assert.equal(record.status?.kernelRelease, TARGET);
      assert.ok(record.status?.verification?.every((v) => v.busMasterAfter && v.dmaContinuous !== false), `${n}: ${JSON.stringify(record.status?.verification)}`);
      assert.equal(record.spec.planRef, undefined, `${n} still claimed`);
      assert.equal(readMark(record)?.phase, 'Succeeded');
      const node = await nodeObject(n);
      assert.ok(!node.spec?.unschedulable, `${n} left cordoned`);
      assert.equal(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION], undefined);
    }
    const ready = done.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'True');
    // Events are written after the status, best effort: wait for them. Node milestones go on the Node only.
    await waitFor('the plan\'s Completed event', async () => (await planEvents(body.metadata.name)).includes('Completed'), 10_000);
    await waitFor('NodeSucceeded on the Node', async () => (await planEvents(f.nodes[0]!)).includes('NodeSucceeded'), 10_000);
    assert.ok(!(await planEvents(body.metadata.name)).includes('NodeSucceeded'));
  });

  it('a spec the apiserver accepts but that cannot run: Ready=False InvalidSpec naming the field, nothing starts', async () => {
    const f = await fleet(1);
    const body = plan(f, { windows: [{ schedule: '61 2 * * *', duration: '1h', timeZone: 'Mars/Olympus_Mons' }] });
    await plans.create(body);
    const invalid = await until(body.metadata.name, 'InvalidSpec', (s) => s.conditions?.some((c) => c.type === 'Ready' && c.reason === 'InvalidSpec') ?? false);
    const ready = invalid.conditions!.find((c) => c.type === 'Ready')!;
    assert.equal(ready.status, 'False');
    assert.match(ready.message, /spec\.strategy\.windows\[0\]\.schedule/);
    assert.match(ready.message, /spec\.strategy\.windows\[0\]\.timeZone/);
    assert.equal((await records.get(f.nodes[0]!)).spec.planRef, undefined, 'nothing was claimed');
    assert.ok((await planEvents(body.metadata.name)).includes('InvalidSpec'));
  });

  it('an invalid spec edit mid-rollout (a mistyped time zone): the node in flight still finishes, nothing new starts (issue 18 item 6)', async () => {
    const f = await fleet(2);
    const body = plan(f, { maxInFlight: 1, maxUnavailable: 1, order: 'Name' });
    await plans.create(body);
    await waitFor('the first node claimed', async () => (await records.get(f.nodes[0]!)).spec.planRef !== undefined, 60_000, 50);
    await plans.patch(body.metadata.name, { spec: { strategy: { windows: [{ schedule: '0 2 * * *', duration: '4h', timeZone: 'Europe/Pariss' }] } } });
    const stopped = await until(body.metadata.name, 'the first node done, InvalidSpec', (s) => s.summary?.succeeded === 1 && s.summary.inFlight === 0 && s.conditions?.some((c) => c.type === 'Ready' && c.reason === 'InvalidSpec') === true);
    assert.match(stopped.conditions!.find((c) => c.type === 'Ready')!.message, /spec\.strategy\.windows\[0\]\.timeZone/);
    assert.equal(await kernelOf(f.nodes[0]!), TARGET);
    assert.ok(!(await nodeObject(f.nodes[0]!)).spec?.unschedulable, 'the finished node is uncordoned');
    assert.equal((await records.get(f.nodes[1]!)).spec.planRef, undefined, 'nothing new starts');
    assert.equal(stopped.phase, 'Paused');
  });

  it('legacy LUO model: 6 nodes live-updated, DMA kept, nothing left cordoned', async () => {
    const f = await fleet(6, { api: 'legacy' });
    const body = plan(f, { maxInFlight: 3, maxUnavailable: 3 });
    await plans.create(body);
    const done = await until(body.metadata.name, 'Completed', (s) => s.phase === 'Completed');
    assert.equal(done.summary?.succeeded, 6);
    for (const n of f.nodes) {
      const record = await records.get(n);
      assert.equal(record.status?.luo?.api, 'legacy');
      assert.equal(record.status?.kernelRelease, TARGET);
      assert.ok(record.status?.verification?.every((v) => v.busMasterAfter && v.dmaContinuous !== false));
      assert.ok(!(await nodeObject(n)).spec?.unschedulable);
    }
  });

  // Every other fault kind of the simulator, on the first of two nodes: the end DESIGN §4 prescribes, in the plan's
  // status, its Events and the node's cordon.
  const faultOutcomes: [fault: object, phase: 'Failed' | 'Cancelled', reason: string, cordoned: boolean][] = [
    [{ kind: 'kexec-load-error' }, 'Cancelled', 'KexecLoadFailed', false],
    [{ kind: 'panic-on-boot' }, 'Failed', 'NodeLost', true],
    [{ kind: 'finish-error' }, 'Failed', 'FinishFailed', true],
    [{ kind: 'native-driver-after-kexec', device: '0000:05:00.1' }, 'Failed', 'DriverChanged', true],
    [{ kind: 'agent-crash', phase: 'prepare', when: 'after', times: 1 }, 'Cancelled', 'AgentRestarted', false],
  ];
  for (const [fault, phase, reason, cordoned] of faultOutcomes) {
    it(`${(fault as { kind: string }).kind} → ${phase}(${reason}), ${cordoned ? 'left cordoned for a human' : 'uncordoned'}, plan halted`, async () => {
      const f = await fleet(2);
      await writeFile(path.join(dir, `${f.nodes[0]!.replace(/-01$/, '')}-faults.json`), JSON.stringify({ nodes: { [f.nodes[0]!]: [fault] } }));
      const body = plan(f, { maxInFlight: 1, order: 'Name' });
      await plans.create(body);
      const halted = await until(body.metadata.name, 'Halted', (s) => s.phase === 'Halted' && (s.failedNodes?.length ?? 0) > 0);
      assert.deepEqual({ node: halted.failedNodes?.[0]?.node, phase: halted.failedNodes?.[0]?.phase, reason: halted.failedNodes?.[0]?.reason }, { node: f.nodes[0], phase, reason });
      assert.equal((await nodeObject(f.nodes[0]!)).spec?.unschedulable === true, cordoned);
      assert.equal(await kernelOf(f.nodes[1]!), '6.19.0-sim', 'nothing new starts after the halt');
      assert.ok((await planEvents(body.metadata.name)).includes(phase === 'Failed' ? 'NodeFailed' : 'NodeCancelled'));
    });
  }

  const faultsFile = (f: SimFleet) => path.join(dir, `${f.nodes[0]!.replace(/-01$/, '')}-faults.json`);
  const simState = async (f: SimFleet, node: string) =>
    JSON.parse(await readFile(path.join(nodePaths(path.join(dir, f.nodes[0]!.replace(/-01$/, '')), node).simDir, 'state.json'), 'utf8')) as { loaded: unknown; boots: number; kernel: { mainline: { outgoing: object } } };

  it('freeze-error → KexecRefused on the same boot: Cancelled and uncordoned, not a failure; the plan goes on', async () => {
    const f = await fleet(2);
    await writeFile(faultsFile(f), JSON.stringify({ nodes: { [f.nodes[0]!]: [{ kind: 'freeze-error' }] } }));
    const body = plan(f, { maxInFlight: 1, order: 'Name' });
    await plans.create(body);
    const done = await until(body.metadata.name, 'Completed', (s) => s.phase === 'Completed');
    assert.deepEqual({ succeeded: done.summary?.succeeded, cancelled: done.summary?.cancelled, failed: done.summary?.failed }, { succeeded: 1, cancelled: 1, failed: 0 });
    const mark = readMark(await records.get(f.nodes[0]!));
    assert.deepEqual({ phase: mark?.phase, reason: mark?.reason, failure: mark?.failure }, { phase: 'Cancelled', reason: 'KexecRefused', failure: false });
    assert.ok(!(await nodeObject(f.nodes[0]!)).spec?.unschedulable, 'uncordoned');
    assert.equal((await records.get(f.nodes[0]!)).spec.planRef, undefined, 'released');
  });

  it('abort while the agent is inside prepare(): the node ends Cancelled only once the agent cancelled, nothing stays loaded, the next plan updates it', async () => {
    const f = await fleet(1);
    const node = f.nodes[0]!;
    await writeFile(faultsFile(f), JSON.stringify({ nodes: { [node]: [{ kind: 'slow-step', phase: 'prepare', ms: 4000, times: 1 }] } }));
    const body = plan(f);
    await plans.create(body);
    await waitFor('claimed with Prepare', async () => (await records.get(node)).spec.action === 'Prepare', 30_000, 20);
    await plans.patch(body.metadata.name, { spec: { abort: true } });
    await until(body.metadata.name, 'Aborted', (s) => s.phase === 'Aborted');
    const record = await records.get(node);
    // Released only on the agent's word for this key: it cancelled what prepare() left.
    assert.equal(record.status?.phase, 'Cancelled', JSON.stringify(record.status?.lastError));
    assert.equal(record.status?.observedAttempt, readMark(record)?.attempt);
    const state = await simState(f, node);
    assert.equal(state.loaded, null, 'nothing stays loaded');
    assert.deepEqual(state.kernel.mainline.outgoing, {}, 'no LUO session left');
    const next = plan(f);
    await plans.create(next);
    const done = await until(next.metadata.name, 'the next plan Completed', (s) => s.phase === 'Completed');
    assert.equal(done.summary?.succeeded, 1);
  });

  it('a node failed past the point of no return has its Execute withdrawn (no later kexec), and an Execute carries a deadline', async () => {
    const f = await fleet(1);
    const node = f.nodes[0]!;
    await writeFile(faultsFile(f), JSON.stringify({ nodes: { [node]: [{ kind: 'never-returns' }] } }));
    const body = plan(f);
    await plans.create(body);
    const executing = await waitFor('Execute written', async () => {
      const r = await records.get(node);
      return r.spec.action === 'Execute' ? r : undefined;
    }, 30_000, 20);
    const deadline = Date.parse((executing.spec as { executeBy?: string }).executeBy ?? '');
    assert.ok(deadline > Date.now() - 30_000 && deadline <= Date.now() + 20_000, `executeBy ${String((executing.spec as { executeBy?: string }).executeBy)} within nodeReturn`);
    await until(body.metadata.name, 'NodeLost', (s) => s.failedNodes?.[0]?.reason === 'NodeLost');
    const failed = await records.get(node);
    assert.equal(failed.spec.action, 'None', 'the Execute is withdrawn when the node is declared Failed');
    assert.equal((await nodeObject(node)).spec?.unschedulable, true, 'still cordoned for a human');
  });

  it('a record whose mark cannot be read, or that vanished, mid-flight: the node keeps its cordon, the plan says RecordUnreadable', async () => {
    const f = await fleet(1);
    const node = f.nodes[0]!;
    await writeFile(faultsFile(f), JSON.stringify({ nodes: { [node]: [{ kind: 'never-returns' }] } }));
    const body = plan(f, {}, { timeouts: { prepare: '30s', nodeReturn: '10m', verify: '30s', finish: '30s' } });
    await plans.create(body);
    await waitFor('Execute written', async () => (await records.get(node)).spec.action === 'Execute', 30_000, 20);
    await records.patch(node, { metadata: { annotations: { 'liveupdate.dev/rollout': '{"planUid": ' } } });
    const unreadable = await until(body.metadata.name, 'RecordUnreadable', (s) => s.skippedNodes?.some((n) => n.node === node && n.reason === 'RecordUnreadable') ?? false);
    assert.match(unreadable.skippedNodes!.find((n) => n.node === node)!.message, new RegExp(`${node}.*liveupdate\\.dev/rollout`));
    assert.notEqual(unreadable.phase, 'Completed');
    await records.delete(node);
    const vanished = await until(body.metadata.name, 'RecordUnreadable for a missing record', (s) => s.skippedNodes?.some((n) => n.node === node && /does not exist/.test(n.message)) ?? false);
    assert.notEqual(vanished.phase, 'Completed');
    const core = await nodeObject(node);
    assert.equal(core.spec?.unschedulable, true, 'still cordoned');
    assert.ok(core.metadata?.annotations?.[CORDONED_BY_ANNOTATION]?.endsWith((await plans.get(body.metadata.name)).metadata.uid ?? '?'));
  });

  it('Preview: eligibility, order and batches in status, and no node touched', async () => {
    const f = await fleet(3);
    const body = plan(f, { mode: 'Preview', steps: [{ nodes: 1 }, { nodes: '100%' }] });
    await plans.create(body);
    const previewed = await until(body.metadata.name, 'Previewed', (s) => s.phase === 'Previewed' && s.preview !== undefined);
    assert.deepEqual([...(previewed.preview?.order ?? [])].sort(), [...f.nodes].sort());
    assert.equal(previewed.preview?.batches[0]?.nodes.length, 1);
    for (const n of f.nodes) {
      assert.equal((await records.get(n)).spec.planRef, undefined);
      assert.ok(!(await nodeObject(n)).spec?.unschedulable);
      assert.equal(await kernelOf(n), '6.19.0-sim');
    }
  });

  it('target and mode are frozen before the first claim: startedAt is written first, then edits are refused (issue 18 items 18, 6)', async () => {
    const f = await fleet(1);
    const body = plan(f);
    // Watches see every write in order; etcd's resourceVersion is one global revision, so it orders writes across objects.
    const watched = new RecordWatch(kc, f.nodes);
    const planWatch = new Informer({ kc, kind: planKind, fieldSelector: `metadata.name=${body.metadata.name}`, backoff: { initialMs: 100, maxMs: 1000 } });
    let startedAtRevision: bigint | undefined;
    planWatch.addHandler({
      add: (p) => void (p.status?.startedAt && (startedAtRevision ??= BigInt(p.metadata.resourceVersion ?? '0'))),
      update: (_o, p) => void (p.status?.startedAt && (startedAtRevision ??= BigInt(p.metadata.resourceVersion ?? '0'))),
    });
    await watched.start();
    planWatch.start();
    await planWatch.waitForSync();
    try {
      const created = await plans.create(body);
      const claim = await watched.next((_old, r) => (r.spec.planRef?.uid === created.metadata.uid ? BigInt(r.metadata.resourceVersion ?? '0') : undefined), 60_000);
      assert.ok(claim !== undefined, 'the node was claimed');
      await waitFor('the plan watch caught up', () => startedAtRevision !== undefined, 10_000).catch(() => undefined);
      assert.ok(startedAtRevision !== undefined && startedAtRevision < claim, `status.startedAt (revision ${startedAtRevision}) is written before the first claim (revision ${claim})`);
      const refused = await plans.patch(body.metadata.name, { spec: { target: { kernel: { release: '6.19.9-other' } } } }).then(() => 'accepted', (err: Error) => err.message + String((err as { body?: unknown }).body));
      assert.match(refused, /spec\.target.*immutable once the plan has started/);
      const mode = await plans.patch(body.metadata.name, { spec: { strategy: { mode: 'Preview' } } }).then(() => 'accepted', (err: Error) => err.message + String((err as { body?: unknown }).body));
      assert.match(mode, /spec\.strategy\.mode.*cannot change once the plan has started/);
      await until(body.metadata.name, 'Completed', (s) => s.phase === 'Completed');
    } finally {
      await watched.stop();
      await planWatch.stop();
    }
  });

  it('canary pause → approve: one node, a pause naming the approval, then the rest', async () => {
    const f = await fleet(3);
    const body = plan(f, { steps: [{ nodes: 1, pause: {} }, { nodes: '100%' }] });
    await plans.create(body);
    const paused = await until(body.metadata.name, 'paused after the canary', (s) => s.phase === 'Paused' && s.summary?.succeeded === 1);
    assert.ok((paused.pauseReasons ?? []).join(' ').length > 0);
    assert.equal(paused.summary?.inFlight, 0);
    await plans.patch(body.metadata.name, { spec: { approvals: [{ step: 0, by: 'test', at: new Date().toISOString() }] } });
    const done = await until(body.metadata.name, 'Completed', (s) => s.phase === 'Completed');
    assert.equal(done.summary?.succeeded, 3);
  });

  it('a prepare failure cancels that node, uncordons it, and halts the plan (maxFailedNodes 0)', async () => {
    const prefixFaults = (f: string[]) => ({ nodes: { [f[0]!]: [{ kind: 'prepare-error', device: '0000:05:00.1', errno: 'EBUSY' }] } });
    const f = await fleet(3);
    await writeFile(path.join(dir, `${f.nodes[0]!.replace(/-01$/, '')}-faults.json`), JSON.stringify(prefixFaults(f.nodes)));
    const body = plan(f, { maxInFlight: 1, order: 'Name' });
    await plans.create(body);
    const halted = await until(body.metadata.name, 'Halted', (s) => s.phase === 'Halted');
    assert.equal(halted.summary?.failed, 1);
    assert.equal(halted.failedNodes?.[0]?.node, f.nodes[0]);
    assert.equal(halted.failedNodes?.[0]?.reason, 'PrepareFailed');
    const first = await nodeObject(f.nodes[0]!);
    assert.ok(!first.spec?.unschedulable, 'a cancelled node is uncordoned');
    for (const n of f.nodes.slice(1)) assert.equal(await kernelOf(n), '6.19.0-sim', 'no new node after the halt');
  });

  for (const [fault, reason] of [
    ['never-returns', 'NodeLost'],
    ['bus-master-lost', 'DMALost'],
    ['cold-reboot', 'ColdRebooted'],
  ] as const) {
    it(`${fault} → Failed(${reason}): the node stays cordoned, the plan halts`, async () => {
      const f = await fleet(2);
      await writeFile(path.join(dir, `${f.nodes[0]!.replace(/-01$/, '')}-faults.json`), JSON.stringify({ nodes: { [f.nodes[0]!]: [{ kind: fault }] } }));
      const body = plan(f, { maxInFlight: 1, order: 'Name' });
      await plans.create(body);
      const halted = await until(body.metadata.name, 'Halted with a failed node', (s) => s.phase === 'Halted' && (s.failedNodes?.length ?? 0) > 0);
      assert.equal(halted.failedNodes?.[0]?.reason, reason);
      const node = await nodeObject(f.nodes[0]!);
      assert.equal(node.spec?.unschedulable, true, 'a node failed after the point of no return stays cordoned for a human');
      assert.equal(await kernelOf(f.nodes[1]!), '6.19.0-sim');
    });
  }

  it('a Node someone else cordoned stays cordoned even when our record says we cordoned it (the executor checks the Node)', async () => {
    const f = await fleet(3);
    const [a, b, taken] = f.nodes as [string, string, string];
    const body = plan(f, { maxInFlight: 1, order: 'Name', steps: [{ nodes: 1, pause: {} }, { nodes: '100%' }] }, { selector: { nodeNames: [a, b] } });
    await plans.create(body);
    await until(body.metadata.name, 'paused after the canary', (s) => s.phase === 'Paused');
    const uid = (await plans.get(body.metadata.name)).metadata.uid!;
    // `taken`: cordoned by someone else (no mark of ours on the Node), while its record carries this plan's mark
    // saying we cordoned it and are cancelling — the state a human leaves by taking over our cordon, or a stale record.
    await patchNode(kc, taken, { spec: { unschedulable: true } });
    const mark = { planUid: uid, attempt: 1, phase: 'Cancelling', since: new Date().toISOString(), reason: 'Aborted', message: 'test', failure: false, cordoned: true };
    await records.patch(taken, {
      metadata: { annotations: { [ROLLOUT_ANNOTATION]: JSON.stringify(mark) } },
      spec: { planRef: { name: body.metadata.name, uid }, attempt: 1, action: 'Cancel' },
    });
    await waitFor(`${taken}: Cancelled by the operator`, async () => readMark(await records.get(taken))?.phase === 'Cancelled', 60_000, 200);
    const node = await nodeObject(taken);
    assert.equal(node.spec?.unschedulable, true, 'the cordon someone else set is left as they left it');
    assert.equal(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION], undefined);
  });

  it('abort mid-rollout: nodes before the point of no return are cancelled and uncordoned', async () => {
    const f = await fleet(4);
    const body = plan(f, { maxInFlight: 1, steps: [{ nodes: 1, pause: {} }, { nodes: '100%' }] });
    await plans.create(body);
    await until(body.metadata.name, 'paused after the canary', (s) => s.phase === 'Paused');
    await plans.patch(body.metadata.name, { spec: { abort: true } });
    const aborted = await until(body.metadata.name, 'Aborted', (s) => s.phase === 'Aborted');
    assert.equal(aborted.summary?.succeeded, 1);
    for (const n of f.nodes) {
      assert.ok(!(await nodeObject(n)).spec?.unschedulable, `${n} left cordoned`);
      assert.equal((await records.get(n)).spec.planRef, undefined, `${n} still claimed`);
    }
  });

  it('two plans competing for the same nodes: each node is updated by exactly one', async () => {
    const f = await fleet(3);
    const a = plan(f, { maxInFlight: 3, maxUnavailable: 3 });
    const b = plan(f, { maxInFlight: 3, maxUnavailable: 3 });
    await Promise.all([plans.create(a), plans.create(b)]);
    const both = await waitFor('every node succeeded under one of the plans', async () => {
      const both = [await status(a.metadata.name), await status(b.metadata.name)];
      return both.reduce((n, s) => n + (s.summary?.succeeded ?? 0), 0) === 3 ? both : undefined;
    }, 90_000).catch(async (err: Error) => {
      throw new Error(`${err.message}\nstatuses: ${JSON.stringify([await status(a.metadata.name), await status(b.metadata.name)])}\noperator log tail:\n${operator.log.slice(-6000)}`);
    });
    for (const s of both) assert.equal((s.summary?.succeeded ?? 0) + (s.summary?.skipped ?? 0), 3, 'a node is either updated by a plan or skipped by it');
    for (const n of f.nodes) assert.equal((await records.get(n)).status?.observedAttempt, 1, `${n} was updated more than once`);
  });

  it('maxUnavailable counts a node that is already NotReady: one node at a time, the NotReady one waits', async () => {
    const f = await fleet(3);
    const [first, second, down] = f.nodes as [string, string, string];
    const setReady = (status: 'True' | 'False') => {
      const at = new Date().toISOString();
      return writeNodeStatus(kc, down, { type: 'Ready', status, reason: status === 'True' ? 'KubeletReady' : 'KubeletNotReady', message: 'test', lastHeartbeatTime: at, lastTransitionTime: at });
    };
    await setReady('False');
    const body = plan(f, { maxInFlight: 3, maxUnavailable: 2 });
    await plans.create(body);
    // Sample the Nodes while it runs: never more than 2 of the 3 NotReady or unschedulable at once.
    let mostUnavailable = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const nodes = await Promise.all(f.nodes.map((n) => nodeObject(n)));
        const unavailable = nodes.filter((n) => n.spec?.unschedulable || n.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True').length;
        mostUnavailable = Math.max(mostUnavailable, unavailable);
        await new Promise((r) => setTimeout(r, 50)); // sampling interval, not a wait
      }
    })();
    const progressed = await until(body.metadata.name, 'the two Ready nodes done', (s) => (s.summary?.succeeded ?? 0) === 2, 90_000).finally(() => (sampling = false));
    await sampler;
    assert.equal(progressed.summary?.pending, 1, 'the NotReady node is not started');
    assert.equal(await kernelOf(down), '6.19.0-sim');
    assert.equal(mostUnavailable, 2, 'the NotReady node plus one node at a time');
    await setReady('True');
    await until(body.metadata.name, 'Completed once the node is Ready again', (s) => s.phase === 'Completed');
    for (const n of [first, second, down]) assert.equal(await kernelOf(n), TARGET);
  });

  it('deleting a plan mid-rollout cancels what can be cancelled, releases every claim, then the plan goes', async () => {
    const f = await fleet(3);
    const body = plan(f, { maxInFlight: 1, steps: [{ nodes: 1, pause: {} }, { nodes: '100%' }] });
    await plans.create(body);
    await until(body.metadata.name, 'paused after the canary', (s) => s.phase === 'Paused');
    await plans.delete(body.metadata.name);
    await waitFor('plan gone', async () => !(await plans.get(body.metadata.name).catch(() => undefined)), 60_000);
    for (const n of f.nodes) {
      assert.equal((await records.get(n)).spec.planRef, undefined, `${n} still claimed`);
      assert.ok(!(await nodeObject(n)).spec?.unschedulable, `${n} left cordoned`);
    }
  });
});
