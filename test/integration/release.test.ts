// Issue 18 item 4 on the real apiserver: a node a plan failed (DMALost after the kexec) stays cordoned for a human;
// a human gives it back with `kubectl uncordon` (the operator then drops its mark and claim) or with
// `kubectl liveupdate release NODE` — after either, the next plan considers the node instead of skipping it
// as ClaimedByOtherPlan, and that skip's message names the verb.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { LiveUpdatePlan } from '../../src/api/plan';
import { nodeResource, planResource, type ClusterResource } from '../../src/kube/cluster-resource';
import { CORDONED_BY_ANNOTATION } from '../../src/operator/model';
import { readMark } from '../../src/operator/views';
import { trackChild } from '../support/children';
import { planFor, startFleet, stopFleet, untilPlan, type E2eFleet } from '../support/e2e';
import { adminKubeConfig, uniqueName } from '../support/kube';
import { OperatorProcess } from '../support/operator-process';
import { waitFor } from '../support/wait';

const PLUGIN = path.resolve(__dirname, '../../src/cli/kubectl-liveupdate.ts');
const SCOPE = { 'liveupdate.dev/test-scope': 'release-test' };

function plugin(...args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register', PLUGIN, ...args], {
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', KUBECONFIG: process.env.LIVEUPDATE_TEST_KUBECONFIG! },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    trackChild(child);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('releasing a node a plan failed (operator, agents, plugin)', () => {
  let kc: KubeConfig;
  let dir: string;
  let operator: OperatorProcess;
  let fleet: E2eFleet;
  let plans: ClusterResource<LiveUpdatePlan>;
  let core: CoreV1Api;
  let failedBy: string;

  before(async () => {
    kc = adminKubeConfig();
    plans = planResource(kc);
    core = kc.makeApiClient(CoreV1Api);
    dir = await mkdtemp(path.join(os.tmpdir(), 'release-test-'));
    const prefix = uniqueName('rel');
    fleet = await startFleet(kc, process.env.LIVEUPDATE_TEST_KUBECONFIG!, dir, 2, { prefix });
    await writeFile(path.join(dir, `${prefix}-faults.json`), JSON.stringify({ nodes: Object.fromEntries(fleet.fleet.nodes.map((n) => [n, [{ kind: 'bus-master-lost' }]])) }));
    operator = new OperatorProcess(process.env.LIVEUPDATE_TEST_KUBECONFIG!, ['--plan-selector', 'liveupdate.dev/test-scope=release-test']);
    const body = planFor(fleet.fleet, {}, { failurePolicy: { maxFailedNodes: 2, onFailure: 'Continue' } }, SCOPE);
    await plans.create(body);
    failedBy = body.metadata.name;
    await untilPlan(kc, failedBy, 'both nodes Failed', (s) => (s.failedNodes ?? []).length === 2 && (s.summary?.inFlight ?? 0) === 0, 120_000, () => operator.log.slice(-4000));
  });
  after(async () => {
    await operator?.stop();
    await stopFleet(kc, fleet);
    await rm(dir, { recursive: true, force: true });
  });

  const node = (name: string) => core.readNode({ name });
  /** A second plan for the node; its skip reason for it once the operator looked. */
  async function nextPlanSkip(name: string): Promise<{ reason: string; message: string }> {
    const body = planFor(fleet.fleet, {}, { selector: { nodeNames: [name] } }, SCOPE);
    await plans.create(body);
    const s = await untilPlan(kc, body.metadata.name, 'the node skipped', (st) => (st.skippedNodes ?? []).some((k) => k.node === name), 30_000);
    await plans.delete(body.metadata.name);
    return s.skippedNodes!.find((k) => k.node === name)!;
  }

  it('a failed node stays cordoned for a human, and other plans are told how to release it', async () => {
    const [first] = fleet.fleet.nodes as [string];
    assert.equal((await node(first)).spec?.unschedulable, true);
    const skip = await nextPlanSkip(first);
    assert.equal(skip.reason, 'ClaimedByOtherPlan');
    assert.match(skip.message, new RegExp(`kubectl liveupdate release ${first}`));
  });

  it('kubectl uncordon of a failed node: the operator drops its cordon mark and claim; the next plan considers the node', async () => {
    const [first] = fleet.fleet.nodes as [string];
    await core.patchNode({ name: first, body: { spec: { unschedulable: false } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await waitFor('the operator released the uncordoned node', async () => {
      const n = await node(first);
      const record = await nodeResource(kc).get(first);
      return n.metadata?.annotations?.[CORDONED_BY_ANNOTATION] === undefined && record.spec.planRef === undefined && readMark(record)?.released !== undefined;
    }, 30_000);
    const record = await nodeResource(kc).get(first);
    assert.equal(readMark(record)?.phase, 'Failed', 'the failure stays on record');
    assert.equal(record.spec.action, 'None');
    assert.ok(!(await node(first)).spec?.unschedulable);
    assert.equal((await nextPlanSkip(first)).reason, 'UpToDate', 'no longer ClaimedByOtherPlan (it kexec\'d before failing)');
  });

  it('kubectl liveupdate release NODE: refused without a terminal unless --yes; then mark, claim and cordon are gone', async () => {
    const [, second] = fleet.fleet.nodes as [string, string];
    const refused = await plugin('release', second);
    assert.equal(refused.code, 2, refused.out);
    assert.match(refused.out, new RegExp(`release ${second}: not confirmed; without a terminal to ask on, pass --yes`));
    assert.ok((await node(second)).metadata?.annotations?.[CORDONED_BY_ANNOTATION], 'nothing written without confirmation');

    const released = await plugin('release', second, '--yes');
    assert.equal(released.code, 0, released.out);
    assert.match(released.out, new RegExp(`node ${second} released: .*cordon mark of plan ${failedBy}/\\S+ cleared, node uncordoned`));
    const n = await node(second);
    assert.equal(n.metadata?.annotations?.[CORDONED_BY_ANNOTATION], undefined);
    assert.ok(!n.spec?.unschedulable, 'uncordoned');
    const record = await nodeResource(kc).get(second);
    assert.equal(record.spec.planRef, undefined);
    assert.equal(readMark(record)?.phase, 'Failed');
    assert.ok(readMark(record)?.released?.by, 'released, and by whom');
    assert.equal((await nextPlanSkip(second)).reason, 'UpToDate');
    assert.match((await plugin('release', second, '--yes')).out, new RegExp(`node ${second} is not held by any LiveUpdatePlan`));
  });
});
