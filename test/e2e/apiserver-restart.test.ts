// kube-apiserver stopped and started again mid-rollout, as a control-plane upgrade or crash does: every watch of the
// operator, the agents and the fleet breaks, writes fail for a while, and the rollout must resume by itself. Its
// own control plane: the suite's shared one cannot go away under the other tests.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { LocalControlPlane } from '../../src/envtest/control-plane';
import { nodeResource, planResource } from '../../src/kube/cluster-resource';
import { agentLogTails, outcomes, planFor, startFleet, stopFleet, TARGET, untilPlan, type E2eFleet } from '../support/e2e';
import { nodePaths } from '../../src/sim/layout';
import { OperatorProcess } from '../support/operator-process';
import { waitFor } from '../support/wait';

describe('kube-apiserver restart mid-rollout (own control plane)', () => {
  let plane: LocalControlPlane | undefined;
  let kc: KubeConfig;
  let kubeconfig: string;
  let dir: string;
  const fleets: E2eFleet[] = [];
  let operator: OperatorProcess | undefined;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'e2e-apiserver-restart-'));
    plane = await LocalControlPlane.start({ crdDir: path.resolve(__dirname, '../../crds') });
    kubeconfig = path.join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfig, plane.kubeconfig());
    kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
  });
  after(async () => {
    await operator?.stop();
    for (const f of fleets) await stopFleet(kc, f);
    await plane?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * A fleet and a plan (one node at a time, in name order); `trigger` says when to restart kube-apiserver (1 s down);
   * then the plan must complete with every node updated once.
   */
  async function rolloutAcrossRestart(trigger: (first: string) => Promise<unknown>): Promise<void> {
    const f = await startFleet(kc, kubeconfig, dir, 3);
    fleets.push(f);
    const body = planFor(f.fleet, { maxInFlight: 1, maxUnavailable: 1, order: 'Name' });
    await planResource(kc).create(body);
    await trigger(f.fleet.nodes[0]!);
    await plane!.restartApiserver(1000);
    const journal = (node: string) => {
      try {
        return readFileSync(path.join(nodePaths(f.dir, node).stateDir, 'journal.json'), 'utf8');
      } catch {
        return '(none)';
      }
    };
    const context = () => `operator log tail:\n${operator?.log.slice(-4000) ?? ''}\n${agentLogTails(f)}\n${f.fleet.nodes.map((n) => `--- ${n} journal: ${journal(n)}`).join('\n')}`;
    // Halted (a node failed, maxFailedNodes 0) is an end too: fail at once with the evidence, not after the timeout.
    const end = await untilPlan(kc, body.metadata.name, 'Completed or Halted', (s) => s.phase === 'Completed' || s.phase === 'Halted', 120_000, context);
    assert.equal(end.phase, 'Completed', `${JSON.stringify(end.failedNodes)}\n${context()}`);
    assert.equal(end.summary?.succeeded, 3);
    for (const o of await outcomes(kc, f)) {
      const detail = `${o.node}: mark ${JSON.stringify(o.mark)}, boots ${o.boots}`;
      assert.equal(o.mark?.phase, 'Succeeded', detail);
      assert.equal(o.mark.attempt, 1, detail);
      assert.equal(o.boots, 2, `exactly one kexec: ${detail}`);
      assert.equal(o.record.status?.kernelRelease, TARGET, detail);
      assert.ok(!o.unschedulable && !o.cordonedBy, `uncordoned: ${detail}`);
      assert.equal(o.record.spec.planRef, undefined, `released: ${detail}`);
    }
  }

  it('down while the first node reboots (its agent reported the kexec): the rollout resumes and completes', async () => {
    operator ??= new OperatorProcess(kubeconfig);
    const records = nodeResource(kc);
    await rolloutAcrossRestart((first) => waitFor(`${first}: kexecIssuedAt reported`, async () => (await records.get(first)).status?.kexecIssuedAt, 90_000, 20));
  });

  // The agent's status write announcing kexecIssuedAt fails while the apiserver is down, after its journal already
  // says Executing: the retried reconcile must finish the committed kexec (it once sat idle until NodeLost).
  it('down right after Execute is written, before the agent announced the kexec: the rollout resumes and completes', async () => {
    operator ??= new OperatorProcess(kubeconfig);
    const records = nodeResource(kc);
    await rolloutAcrossRestart((first) => waitFor(`${first}: Execute requested`, async () => (await records.get(first)).spec.action === 'Execute', 90_000, 20));
  });
});
