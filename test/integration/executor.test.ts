// The executor's writes on the real apiserver (issue 18 item 2): a claim carries the plan's target whole, so nothing
// of an earlier plan's request (an initrd, its hash, command-line parameters) survives into the next kexec.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import type { LiveUpdateNode } from '../../src/api/node';
import { nodeResource, type ClusterResource } from '../../src/kube/cluster-resource';
import { Executor } from '../../src/operator/executor';
import { makePlan } from '../support/fleet-arbitrary';
import { adminKubeConfig, uniqueName } from '../support/kube';

describe('executor writes (real apiserver)', () => {
  let kc: KubeConfig;
  let records: ClusterResource<LiveUpdateNode>;

  before(() => {
    kc = adminKubeConfig();
    records = nodeResource(kc);
  });

  it("a claim replaces the previous plan's target whole: plan A's initrd and cmdline do not leak into plan B's request", async () => {
    const name = uniqueName('exec');
    const planA = {
      target: { release: '6.19.4-lu2', image: '/var/lib/liveupdate/vmlinuz-a', initrd: '/var/lib/liveupdate/initrd-a', sha256: 'a'.repeat(64), initrdSha256: 'c'.repeat(64), cmdline: { append: ['iommu=pt'], remove: [], reuse: true } },
      compatibleFrom: ['6.19.*'],
    };
    // What plan A left behind once it released the node: its target stays in the spec with action None.
    await records.create({ apiVersion: 'liveupdate.dev/v1alpha1', kind: 'LiveUpdateNode', metadata: { name }, spec: { action: 'None', attempt: 1, ...planA } });
    try {
      const planB = makePlan({ target: { kernel: { release: '6.19.5-lu1', image: '/var/lib/liveupdate/vmlinuz-b', sha256: 'b'.repeat(64) }, compatibleFrom: ['6.19.4-*'] } }, { name: 'plan-b', uid: 'uid-plan-b' });
      const executor = new Executor({ kc, records, node: () => undefined, record: () => current, now: () => new Date() });
      let current = await records.get(name);
      await executor.apply(planB, { kind: 'claim', node: name, attempt: 2, preserve: ['0000:05:00.1'], mark: { planUid: 'uid-plan-b', attempt: 2, phase: 'Preparing', since: new Date().toISOString(), cordoned: true } });
      current = await records.get(name);
      assert.deepEqual(current.spec.target, planB.spec.target.kernel, 'the request carries exactly plan B\'s kernel');
      assert.deepEqual(current.spec.compatibleFrom, ['6.19.4-*']);
      assert.deepEqual(current.spec.preserve, [{ bdf: '0000:05:00.1' }]);
      assert.equal(current.spec.action, 'Prepare');
    } finally {
      await records.delete(name);
    }
  });
});
