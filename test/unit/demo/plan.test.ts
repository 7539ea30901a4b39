// The example plan is one the API accepts; the demo's approval is the one `kubectl liveupdate approve` would append.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { demoNode, expectedSkip, approvalPatch, pendingApproval } from '../../../src/demo/plan';
import { defaultTopologyMix } from '../../../src/sim/prepare';
import { plan } from './fixtures';

describe('demo plan', () => {
  it('selects the fleet by name, targets the kernel from kernels.json, canary with an approval pause then 100%', () => {
    const p = plan(['sim-node-01', 'sim-node-02']);
    assert.deepEqual(p.spec.selector.nodeNames, ['sim-node-01', 'sim-node-02']);
    assert.equal(p.spec.target.kernel.release, '6.19.4-lu2');
    assert.deepEqual(p.spec.target.compatibleFrom, ['6.19.*']);
    assert.deepEqual(p.spec.strategy.steps, [{ nodes: 1, pause: {} }, { nodes: '100%' }]);
    assert.equal(p.spec.strategy.maxInFlight, 2);
    assert.deepEqual(p.spec.devices, { match: [], requirePreservation: true, onNodesWithoutDevices: 'LiveUpdate' });
    assert.deepEqual(p.spec.failurePolicy, { maxFailedNodes: 0, onFailure: 'Halt' });
  });

  it('approves a pause without a duration once, appending to the approvals already there', () => {
    const paused = { phase: 'Paused' as const, pause: { step: 0, since: '2026-11-30T10:00:00Z' } };
    assert.equal(pendingApproval(plan(['n1'], paused)), 0);
    assert.equal(pendingApproval(plan(['n1'], { phase: 'Progressing' })), undefined);
    assert.equal(pendingApproval(plan(['n1'], paused, [{ step: 0, by: 'alice', at: '2026-11-30T10:01:00Z' }])), undefined);
    const earlier = { step: 3, by: 'alice', at: '2026-11-30T09:00:00Z' };
    const patch = approvalPatch(plan(['n1'], paused, [earlier]), 0, new Date('2026-11-30T10:02:00Z'));
    assert.deepEqual(patch, { spec: { approvals: [earlier, { step: 0, by: 'demo', at: '2026-11-30T10:02:00.000Z' }] } });
  });

  it('knows from the shipped topologies which nodes the device rules preserve and which they must skip', async () => {
    const [gpu8, nvme, mixed, none] = await defaultTopologyMix();
    assert.equal(demoNode('a', gpu8!).preservable.length, 8);
    assert.deepEqual(demoNode('b', nvme!).preservable, ['0000:05:00.1', '0000:05:00.2']);
    const m = demoNode('c', mixed!);
    assert.deepEqual(m.notPreservable, ['0001:01:00.0']);
    assert.match(expectedSkip(m) ?? '', /0001:01:00\.0 on vfio-pci with bus master clear/);
    assert.deepEqual(demoNode('d', none!), { name: 'd', topology: 'no-passthrough', preservable: [], notPreservable: [] });
    assert.equal(expectedSkip(demoNode('d', none!)), undefined);
  });
});
