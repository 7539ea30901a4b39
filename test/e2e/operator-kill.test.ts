// SIGKILL the operator process again and again during a rollout and start a new one at once: the operator re-derives
// everything from the API (DESIGN §8), so the plan completes with every node updated exactly once.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import type { LiveUpdateNode } from '../../src/api/node';
import { planResource } from '../../src/kube/cluster-resource';
import { readMark } from '../../src/operator/views';
import { adminKubeConfig } from '../support/kube';
import { OperatorProcess } from '../support/operator-process';
import { waitFor } from '../support/wait';
import { outcomes, planFor, RecordWatch, seededRandom, startFleet, stopFleet, TARGET, testSeed, untilPlan, type E2eFleet } from '../support/e2e';

const KILLS = 10;

describe('operator SIGKILLed at random points of a rollout', () => {
  let kc: KubeConfig;
  let kubeconfig: string;
  let dir: string;
  let f: E2eFleet | undefined;
  let watch: RecordWatch | undefined;
  let operator: OperatorProcess | undefined;

  before(async () => {
    kc = adminKubeConfig();
    kubeconfig = process.env.LIVEUPDATE_TEST_KUBECONFIG!;
    dir = await mkdtemp(path.join(os.tmpdir(), 'e2e-operator-kill-'));
  });
  after(async () => {
    await operator?.stop();
    await watch?.stop();
    await stopFleet(kc, f);
    await rm(dir, { recursive: true, force: true });
  });

  it(`${KILLS}+ kills and restarts: the plan completes, one kexec per node, nothing left cordoned`, async () => {
    const seed = testSeed();
    console.error(`[operator-kill] seed ${seed} (replay with E2E_SEED=${seed})`);
    const random = seededRandom(seed);
    f = await startFleet(kc, kubeconfig, dir, 5);
    const nodes = f.fleet.nodes;
    watch = new RecordWatch(kc, nodes);
    await watch.start();
    // Kill points that matter: the instant the operator has written Execute for a node (its next act is to wait for
    // the agent's report of the kexec; a restarted operator must not ask again nor cancel).
    const executeWritten = (old: LiveUpdateNode | undefined, record: LiveUpdateNode) =>
      record.spec.action === 'Execute' && old?.spec.action !== 'Execute' ? record.metadata.name : undefined;

    const t0 = Date.now();
    const history: string[] = [];
    watch.on((old, r) => {
      const was = old && `${old.spec.action}/${readMark(old)?.phase}/${old.status?.phase}`;
      const is = `${r.spec.action}/${readMark(r)?.phase}/${r.status?.phase}`;
      if (was !== is) history.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${r.metadata.name}: ${is}`);
    });
    // A soak per node keeps the rollout long enough for every kill to land inside it (an operator takes seconds to
    // start under ts-node on two cores), and puts kills in soaks too: a soak's end is derived from the stored mark.
    const body = planFor(f.fleet, { maxInFlight: 2, maxUnavailable: 2, nodeSoak: '10s' });
    operator = new OperatorProcess(kubeconfig);
    await planResource(kc).create(body);
    const plans = planResource(kc);
    const phase = async () => (await plans.get(body.metadata.name)).status?.phase;
    const log: string[] = [];
    let midRollout = 0;
    const synced = (op: OperatorProcess) => waitFor('the new operator synced its caches', () => op.log.includes('caches synced'), 60_000, 20);
    for (let i = 0; i < 3 * KILLS; i++) {
      const spawned = Date.now();
      let point: string;
      const executed = new Set(nodes.filter((n) => watch!.get(n)?.status?.kexecIssuedAt || ['Execute', 'Finish'].includes(watch!.get(n)?.spec.action ?? '')));
      if (i % 3 === 2 && executed.size < nodes.length) {
        // Wait (bounded) for the next Execute, then kill at once; if none comes in time, this is a random point too.
        await synced(operator);
        const node = await watch.next(executeWritten, 20_000);
        point = node ? `right after Execute for ${node}` : 'after 20 s without a new Execute';
      } else {
        // Half of the random points count from the process start (some land in start-up or the first list), half
        // from the moment it works (caches synced).
        if (i % 3 === 1) await synced(operator);
        const delay = 300 + Math.floor(random() * 2700);
        await new Promise((r) => setTimeout(r, delay)); // the experiment: a random point, not a wait for a condition
        point = `${delay} ms after ${i % 3 === 1 ? 'its caches synced' : 'its start'}`;
      }
      const before = await phase();
      operator.kill('SIGKILL');
      await operator.exit;
      operator = new OperatorProcess(kubeconfig);
      const running = before !== 'Completed';
      if (running) midRollout++;
      history.push(`${((Date.now() - t0) / 1000).toFixed(1)}s KILL ${i + 1}`);
      log.push(`kill ${i + 1} ${point}, ${Date.now() - spawned} ms after its start (plan ${before ?? 'without status'})`);
      if (!running || midRollout >= KILLS) break;
    }
    console.error(`[operator-kill] ${log.join('\n[operator-kill] ')}`);
    const timeline = () => `timeline (record spec.action/mark/agent phase):\n${history.join('\n')}`;
    assert.ok(midRollout >= KILLS, `only ${midRollout} kills landed before the plan completed:\n${log.join('\n')}\n${timeline()}`);

    const done = await untilPlan(kc, body.metadata.name, 'Completed', (s) => s.phase === 'Completed', 120_000, () => `${timeline()}\noperator log tail:\n${operator?.log.slice(-6000) ?? ''}`);
    assert.equal(done.summary?.succeeded, nodes.length);
    assert.equal(done.summary?.failed, 0);
    for (const o of await outcomes(kc, f)) {
      if (o.boots !== 2 || o.mark?.phase !== 'Succeeded') console.error(timeline());
      assert.equal(o.boots, 2, `${o.node}: exactly one kexec (boots ${o.boots})`);
      assert.equal(o.unschedulable, false, `${o.node} left cordoned`);
      assert.equal(o.cordonedBy, undefined, `${o.node} still carries the cordon mark`);
      assert.equal(o.mark?.phase, 'Succeeded', `${o.node}: mark ${JSON.stringify(o.mark)}`);
      assert.equal(o.mark?.attempt, 1, `${o.node}: one attempt`);
      assert.equal(o.record.status?.observedAttempt, 1, `${o.node}: the agent saw one attempt`);
      assert.equal(o.record.status?.kernelRelease, TARGET);
      assert.equal(o.record.spec.planRef, undefined, `${o.node} still claimed`);
    }
  });
});
