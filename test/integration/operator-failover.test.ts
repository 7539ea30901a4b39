// Operators as their own processes with their own fleets: leader failover mid-rollout and maintenance windows. A file
// of its own, so it runs beside the shared-operator tests of operator.test.ts (its plans carry another scope label).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { LiveUpdateNode } from '../../src/api/node';
import type { LiveUpdatePlan } from '../../src/api/plan';
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { nodeResource, planResource, type ClusterResource } from '../../src/kube/cluster-resource';
import { CLAIMED_AT_ANNOTATION } from '../../src/operator/model';
import { planFor, startFleet, stopFleet, type E2eFleet } from '../support/e2e';
import { adminKubeConfig, uniqueName } from '../support/kube';
import { OperatorProcess } from '../support/operator-process';
import { waitFor } from '../support/wait';

const SCOPE = { 'liveupdate.dev/test-scope': 'operator-failover-test' };
const SCOPE_LABEL = 'liveupdate.dev/test-scope=operator-failover-test';

describe('operator failover and windows (own operators)', () => {
  let kc: KubeConfig;
  let kubeconfig: string;
  let plans: ClusterResource<LiveUpdatePlan>;
  let records: ClusterResource<LiveUpdateNode>;
  let dir: string;
  const operators: OperatorProcess[] = [];
  const fleets: E2eFleet[] = [];

  before(async () => {
    kc = adminKubeConfig();
    kubeconfig = process.env.LIVEUPDATE_TEST_KUBECONFIG!;
    plans = planResource(kc);
    records = nodeResource(kc);
    dir = await mkdtemp(path.join(os.tmpdir(), 'operator-failover-'));
  });
  afterEach(async () => {
    await Promise.all(operators.splice(0).map((o) => o.stop()));
    await Promise.all(fleets.splice(0).map((f) => stopFleet(kc, f)));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function fleet(nodes: number): Promise<E2eFleet> {
    const f = await startFleet(kc, kubeconfig, dir, nodes, { prefix: uniqueName('fo') });
    fleets.push(f);
    return f;
  }

  const plan = (f: E2eFleet, strategy: object) => planFor(f.fleet, { maxInFlight: 1, maxUnavailable: 1, ...strategy }, {}, SCOPE);

  it('killing the leader while a node is Executing: the standby takes over, no node is kexec\'d twice, the plan completes', async () => {
    const f = await fleet(3);
    const lease = uniqueName('operator-lease');
    const args = ['--leader-elect', '--leader-election-id', lease, '--namespace', 'default', '--plan-selector', SCOPE_LABEL];
    const a = new OperatorProcess(kubeconfig, args, { POD_NAME: 'replica-a' });
    const b = new OperatorProcess(kubeconfig, args, { POD_NAME: 'replica-b' });
    operators.push(a, b);
    const coordination = kc.makeApiClient(CoordinationV1Api);
    const holder = async () => (await coordination.readNamespacedLease({ name: lease, namespace: 'default' }).catch(() => undefined))?.spec?.holderIdentity ?? '';
    const leaderId = await waitFor('a leader', async () => (await holder()) || undefined, 30_000);
    const body = plan(f, {});
    await plans.create(body);
    await waitFor('a node is Executing', async () => {
      for (const n of f.fleet.nodes) if ((await records.get(n)).spec.action === 'Execute') return true;
      return false;
    }, 60_000, 20);
    const [leader, standby] = leaderId.startsWith('replica-a') ? [a, b] : [b, a];
    leader.kill('SIGKILL');
    await waitFor('the standby leads', async () => (await holder()).startsWith(leaderId.startsWith('replica-a') ? 'replica-b' : 'replica-a'), 40_000);
    const done = await waitFor('Completed', async () => {
      const s = (await plans.get(body.metadata.name)).status;
      return s?.phase === 'Completed' ? s : undefined;
    }, 120_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}\nstandby log:\n${standby.log.slice(-4000)}`);
    });
    assert.equal(done.summary?.succeeded, 3);
    for (const n of f.fleet.nodes) assert.equal(await f.boots(n), 2, `${n}: exactly one kexec`);
  });

  it('a node Prepared after its window closed waits for the next window: Execute is never written outside a window', async () => {
    const f = await fleet(1);
    const node = f.fleet.nodes[0]!;
    await writeFile(path.join(dir, `${node.replace(/-01$/, '')}-faults.json`), JSON.stringify({ nodes: { [node]: [{ kind: 'slow-step', phase: 'prepare', ms: 6000, times: 1 }] } }));
    const op = new OperatorProcess(kubeconfig, ['--plan-selector', SCOPE_LABEL]);
    operators.push(op);
    // Opens at the start of every minute for 5 s; the prepare takes 6 s, so the node is Prepared after the window.
    const body = { ...plan(f, { windows: [{ schedule: '* * * * *', duration: '5s', timeZone: 'UTC' }] }) };
    body.spec = { ...body.spec, timeouts: { prepare: '100s', nodeReturn: '20s', verify: '30s', finish: '30s' } };
    await plans.create(body);
    await waitFor('Completed', async () => (await plans.get(body.metadata.name)).status?.phase === 'Completed', 150_000, 500);
    const status = (await records.get(node)).status!;
    const kexec = new Date(status.kexecIssuedAt ?? '');
    assert.ok(kexec.getUTCSeconds() < 5, `kexec issued at ${kexec.toISOString()}, outside the window`);
    assert.equal(status.observedAttempt, 1, 'the Prepared attempt waited; it was not cancelled and retried');
  });

  it('a window that closes mid-rollout: nodes start only inside it, the in-flight node finishes, the next waits for the next window', async () => {
    const f = await fleet(2);
    const op = new OperatorProcess(kubeconfig, ['--plan-selector', SCOPE_LABEL]);
    operators.push(op);
    // Opens at the start of every minute for 5 s: one node fits, the second must wait for the next minute.
    const body = plan(f, { windows: [{ schedule: '* * * * *', duration: '5s', timeZone: 'UTC' }] });
    await plans.create(body);
    const waiting = await waitFor('WaitingForWindow with a next start', async () => {
      const s = (await plans.get(body.metadata.name)).status;
      return s?.phase === 'WaitingForWindow' && s.nextWindowStart ? s : undefined;
    }, 90_000, 200);
    assert.equal(new Date(waiting.nextWindowStart!).getUTCSeconds(), 0);
    const done = await waitFor('Completed', async () => {
      const s = (await plans.get(body.metadata.name)).status;
      return s?.phase === 'Completed' ? s : undefined;
    }, 150_000, 500);
    assert.equal(done.summary?.succeeded, 2);
    for (const n of f.fleet.nodes) {
      const claimedAt = new Date((await records.get(n)).metadata.annotations?.[CLAIMED_AT_ANNOTATION] ?? '');
      assert.ok(claimedAt.getUTCSeconds() < 5, `${n} started at ${claimedAt.toISOString()}, outside the window`);
    }
  });
});

