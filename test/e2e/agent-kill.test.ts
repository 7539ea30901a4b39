// SIGKILL a node's agent process at each step boundary of its update, with the operator running: before the point
// of no return the restarted agent reports Cancelled(AgentRestarted) (its mainline LUO session died with it) and the
// operator cancels the node cleanly; after it the update carries on or, if the kill fell between kexecIssuedAt and
// the reboot, fails as KexecInterrupted. Never a kexec without Prepared, never two kexecs for one attempt.
//
// The boundaries are the agent's reports (LiveUpdateNode status.phase) and the operator's Prepare request. The agent
// publishes no Preflight phase: it writes its status once the whole prepare step is done (Prepared or Failed), so
// the boundary before prepare is the moment spec.action becomes Prepare.
//
// The operator does not retry a cancelled node within the plan (a node it started is never re-checked; Cancelled is
// terminal, planner/node-flow.ts and fleet.ts): the retry is a new claim, i.e. a new plan, with attempt + 1.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import type { LiveUpdateNode } from '../../src/api/node';
import { planResource } from '../../src/kube/cluster-resource';
import { readMark } from '../../src/operator/views';
import { outcomes, planFor, RecordWatch, startFleet, stopFleet, TARGET, untilPlan, type E2eFleet, type NodeOutcome } from '../support/e2e';
import { adminKubeConfig } from '../support/kube';
import { OperatorProcess } from '../support/operator-process';
import { waitFor } from '../support/wait';
import { isAlive } from '../../src/util/process-alive';

type Boundary = 'Prepare requested' | 'Prepared' | 'Executing' | 'Verified' | 'Finished';

/** The boundary a record change crosses, if any. */
function crossed(old: LiveUpdateNode | undefined, record: LiveUpdateNode): Boundary | undefined {
  if (record.spec.action === 'Prepare' && old?.spec.action !== 'Prepare') return 'Prepare requested';
  const phase = record.status?.phase;
  if (phase === old?.status?.phase) return undefined;
  return phase === 'Prepared' || phase === 'Executing' || phase === 'Verified' || phase === 'Finished' ? phase : undefined;
}

describe('agents SIGKILLed at every step boundary', () => {
  let kc: KubeConfig;
  let kubeconfig: string;
  let dir: string;
  let f: E2eFleet | undefined;
  let watch: RecordWatch | undefined;
  let operator: OperatorProcess | undefined;

  before(async () => {
    kc = adminKubeConfig();
    kubeconfig = process.env.LIVEUPDATE_TEST_KUBECONFIG!;
    dir = await mkdtemp(path.join(os.tmpdir(), 'e2e-agent-kill-'));
  });
  after(async () => {
    await operator?.stop();
    await watch?.stop();
    await stopFleet(kc, f);
    await rm(dir, { recursive: true, force: true });
  });

  it('each kill ends in a clean cancel or a completed update; a new plan retries the cancelled nodes with attempt 2', async () => {
    f = await startFleet(kc, kubeconfig, dir, 4);
    const [n1, n2, n3, n4] = f.fleet.nodes as [string, string, string, string];
    // One pre-point-of-no-return kill per node at most (it may end that node's attempt); the post ones first, on a
    // node that has no earlier kill, so every boundary is reached whatever the outcomes.
    const schedule = new Map<string, Boundary[]>([
      [n1, ['Verified', 'Finished']],
      [n2, ['Executing']],
      [n3, ['Prepared']],
      [n4, ['Prepare requested']],
    ]);
    const kills: { node: string; boundary: Boundary; pid: number; attempt: number }[] = [];
    const verifiedAttempts = new Map<string, Set<number>>();
    watch = new RecordWatch(kc, f.fleet.nodes);
    await watch.start();
    watch.on((old, record) => {
      const node = record.metadata.name!;
      if (record.status?.phase === 'Verified' || record.status?.phase === 'Finished')
        verifiedAttempts.set(node, (verifiedAttempts.get(node) ?? new Set()).add(record.status.observedAttempt ?? 0));
      const boundary = crossed(old, record);
      const due = schedule.get(node);
      if (!boundary || due?.[0] !== boundary) return;
      due.shift();
      const pid = f!.fleet.pid(node);
      if (pid === undefined || !isAlive(pid)) return; // Executing: the agent may already have exited for the kexec
      process.kill(pid, 'SIGKILL');
      kills.push({ node, boundary, pid, attempt: record.spec.attempt });
    });

    operator = new OperatorProcess(kubeconfig);
    const plans = planResource(kc);
    // Every node may fail without halting the plan, so each one gets its kill; one node at a time, in name order. A
    // node Failed past the point of no return stays cordoned and so unavailable: with maxUnavailable 1 it would hold
    // the rest back for good, so the budget is the fleet.
    const body = planFor(f.fleet, { maxInFlight: 1, maxUnavailable: 4, order: 'Name' }, { failurePolicy: { maxFailedNodes: 4 } });
    await plans.create(body);
    const done = await untilPlan(kc, body.metadata.name, 'Completed', (s) => s.phase === 'Completed', 150_000, () => `kills: ${JSON.stringify(kills)}\noperator log tail:\n${operator?.log.slice(-6000) ?? ''}`);
    const context = `kills: ${JSON.stringify(kills)}`;
    console.error(`[agent-kill] ${context}`);
    for (const boundary of ['Prepare requested', 'Prepared', 'Verified', 'Finished'] as const)
      assert.ok(kills.some((k) => k.boundary === boundary), `no agent was killed at ${boundary}: ${context}`);

    const first = await outcomes(kc, f);
    const byNode = new Map(first.map((o) => [o.node, o]));
    const check = (o: NodeOutcome, what: string) => {
      const verified = verifiedAttempts.get(o.node)?.size ?? 0;
      const attempts = o.mark?.attempt ?? 0;
      const detail = `${o.node} (${what}): mark ${JSON.stringify(o.mark)}, agent ${o.record.status?.phase} ${JSON.stringify(o.record.status?.lastError)}, boots ${o.boots}; ${context}`;
      assert.ok(o.boots <= attempts + 1, `never two kexecs for one attempt: ${detail}`);
      assert.equal(o.boots - 1, verified, `every kexec was of a Prepared attempt that came back Verified: ${detail}`);
      return detail;
    };
    for (const o of first) {
      const detail = check(o, 'first plan');
      assert.equal(o.mark?.attempt, 1, detail);
      assert.equal(o.record.spec.planRef, undefined, `released: ${detail}`);
      switch (o.mark?.phase) {
        case 'Succeeded':
          assert.equal(o.boots, 2, detail);
          assert.equal(o.record.status?.kernelRelease, TARGET, detail);
          assert.ok(!o.unschedulable && !o.cordonedBy, `uncordoned: ${detail}`);
          break;
        case 'Cancelled':
          // Before the point of no return: the agent said why, nothing was kexec'd, the node is schedulable again.
          assert.equal(o.mark.reason, 'AgentRestarted', detail);
          assert.equal(o.record.status?.lastError?.reason, 'AgentRestarted', detail);
          assert.equal(o.record.status?.kexecIssuedAt, undefined, detail);
          assert.equal(o.boots, 1, detail);
          assert.ok(!o.unschedulable && !o.cordonedBy, `a cancelled node is uncordoned: ${detail}`);
          break;
        case 'Failed':
          // Only a kill between kexecIssuedAt and the reboot: the same boot came back, the kexec never happened.
          assert.equal(o.mark.reason, 'KexecInterrupted', detail);
          assert.ok(o.record.status?.kexecIssuedAt, detail);
          assert.equal(o.boots, 1, detail);
          assert.ok(o.unschedulable, `a node failed past the point of no return stays cordoned for a human: ${detail}`);
          break;
        default:
          assert.fail(`unexpected end: ${detail}`);
      }
    }
    // The post-reboot kills change nothing: the node that took them is updated.
    assert.equal(byNode.get(n1)?.mark?.phase, 'Succeeded', check(byNode.get(n1)!, 'killed after Verified and after Finished'));
    // The failure policy: maxFailedNodes 4 was never exceeded, so the plan went on and completed, counting them.
    const failed = first.filter((o) => o.mark?.phase !== 'Succeeded').length;
    assert.equal(done.summary?.failed, failed);
    assert.equal(done.summary?.succeeded, first.length - failed);
    console.error(`[agent-kill] first plan: ${first.map((o) => `${o.node} ${o.mark?.phase}${o.mark?.reason ? `(${o.mark.reason})` : ''} boots ${o.boots}`).join(', ')}`);

    // The retry: a new plan claims the cancelled nodes again with attempt 2, and they are updated once.
    const cancelled = first.filter((o) => o.mark?.phase === 'Cancelled').map((o) => o.node);
    if (cancelled.length === 0) return;
    const retry = planFor(f.fleet, { maxInFlight: 2, maxUnavailable: 2 });
    retry.spec.selector = { nodeNames: cancelled };
    await plans.create(retry);
    const retried = await untilPlan(kc, retry.metadata.name, 'Completed', (s) => s.phase === 'Completed', 90_000, () => `operator log tail:\n${operator?.log.slice(-6000) ?? ''}`);
    assert.equal(retried.summary?.succeeded, cancelled.length);
    await waitFor('the watch saw the retries', () => cancelled.every((n) => (verifiedAttempts.get(n)?.size ?? 0) === 1), 10_000);
    for (const o of (await outcomes(kc, f)).filter((o) => cancelled.includes(o.node))) {
      const detail = check(o, 'retry');
      assert.equal(o.mark?.phase, 'Succeeded', detail);
      assert.equal(o.mark.attempt, 2, detail);
      assert.equal(o.record.status?.observedAttempt, 2, detail);
      assert.equal(o.boots, 2, detail);
      assert.ok(!o.unschedulable && !o.cordonedBy, detail);
      assert.equal(readMark(o.record)?.planUid, (await plans.get(retry.metadata.name)).metadata.uid, detail);
    }
  });
});
