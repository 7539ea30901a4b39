// Issue 18 item 3 on the real apiserver: a host with 4 096 PCI functions, 600 of them on vfio-pci (generated, see
// test/support/large-host.ts). The agent reports every one a plan may ask for, the operator preserves all 600, and
// every one keeps its DMA through the update; the LiveUpdateNode stays within the agent's budget.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { STATUS_BUDGET_BYTES } from '../../src/agent/status';
import type { LiveUpdateNode } from '../../src/api/node';
import type { LiveUpdatePlan } from '../../src/api/plan';
import { nodeResource, planResource, type ClusterResource } from '../../src/kube/cluster-resource';
import { planFor, startFleet, stopFleet, TARGET, untilPlan, type E2eFleet } from '../support/e2e';
import { adminKubeConfig, uniqueName } from '../support/kube';
import { LARGE_HOST, largeTopology } from '../support/large-host';
import { OperatorProcess } from '../support/operator-process';

const SCOPE = { 'liveupdate.dev/test-scope': 'large-host-test' };

describe('a host with 4 096 PCI functions, 600 on vfio-pci (operator and agent processes)', () => {
  let kc: KubeConfig;
  let dir: string;
  let operator: OperatorProcess;
  let fleet: E2eFleet | undefined;
  let plans: ClusterResource<LiveUpdatePlan>;
  let records: ClusterResource<LiveUpdateNode>;

  before(async () => {
    kc = adminKubeConfig();
    plans = planResource(kc);
    records = nodeResource(kc);
    dir = await mkdtemp(path.join(os.tmpdir(), 'large-host-test-'));
    operator = new OperatorProcess(process.env.LIVEUPDATE_TEST_KUBECONFIG!, ['--plan-selector', 'liveupdate.dev/test-scope=large-host-test']);
  });
  after(async () => {
    await stopFleet(kc, fleet);
    await operator?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('every one of the 600 is preserved and keeps its DMA; the record stays within budget', async () => {
    fleet = await startFleet(kc, process.env.LIVEUPDATE_TEST_KUBECONFIG!, dir, 1, { prefix: uniqueName('big'), topology: largeTopology() });
    const [n] = fleet.fleet.nodes as [string];
    const reported = await records.get(n);
    assert.equal(reported.status?.inventoryIncomplete, undefined);
    assert.equal(reported.status?.devices?.filter((d) => d.driver === 'vfio-pci').length, LARGE_HOST.vfio, 'the agent lists every vfio-pci endpoint');

    const body = planFor(fleet.fleet, {}, { timeouts: { prepare: '120s', nodeReturn: '120s', verify: '120s', finish: '60s' } }, SCOPE);
    await plans.create(body);
    const done = await untilPlan(kc, body.metadata.name, 'Completed or Halted', (s) => s.phase === 'Completed' || s.phase === 'Halted', 300_000, () => operator.log.slice(-4000));
    assert.equal(done.phase, 'Completed', JSON.stringify(done.failedNodes ?? done.skippedNodes));

    const record = await records.get(n);
    assert.equal(record.status?.kernelRelease, TARGET);
    assert.equal(record.status?.preservedDevices, LARGE_HOST.vfio, 'every vfio-pci endpoint was preserved');
    const verification = record.status?.verification ?? [];
    assert.equal(verification.length, LARGE_HOST.vfio + LARGE_HOST.ports, 'the 600 endpoints and the 16 root ports above them were verified');
    assert.deepEqual(verification.filter((v) => !v.busMasterAfter || v.dmaContinuous === false).map((v) => v.bdf), [], 'DMA lost');
    const bytes = Buffer.byteLength(JSON.stringify(record));
    assert.ok(bytes < STATUS_BUDGET_BYTES, `the LiveUpdateNode is ${bytes} bytes`);
  });
});
