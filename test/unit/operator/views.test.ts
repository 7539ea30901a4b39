// Node views: where each fact the planner uses comes from.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCoreNode, parseNode } from '../../../src/api/parse';
import { CORDONED_BY_ANNOTATION, ROLLOUT_ANNOTATION } from '../../../src/operator/model';
import { cordonMark, nodeView, readMark, writeMark } from '../../../src/operator/views';

const node = (extra: object = {}) =>
  parseCoreNode({
    metadata: { name: 'n1', labels: { zone: 'a' }, annotations: { [CORDONED_BY_ANNOTATION]: cordonMark('plan-a', 'uid-a') }, resourceVersion: '7' },
    spec: { unschedulable: true },
    status: { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { bootID: 'boot-1' } },
    ...extra,
  });

const record = (annotations: Record<string, string> = {}) =>
  parseNode({
    apiVersion: 'liveupdate.dev/v1alpha1',
    kind: 'LiveUpdateNode',
    metadata: { name: 'n1', resourceVersion: '9', annotations },
    spec: { planRef: { name: 'plan-a', uid: 'uid-a' }, attempt: 2, action: 'None' },
    status: { bootID: 'boot-1', phase: 'Idle' },
  });

describe('node views', () => {
  it('read readiness, cordon, our cordon mark, boot id, claim and status', () => {
    const mark = { planUid: 'uid-a', attempt: 2, phase: 'Preparing' as const, since: '2026-11-30T00:00:00.000Z' };
    const view = nodeView(node(), record({ [ROLLOUT_ANNOTATION]: writeMark(mark) }));
    assert.equal(view.ready, true);
    assert.equal(view.unschedulable, true);
    assert.equal(view.cordonedBy, 'uid-a');
    assert.equal(view.bootID, 'boot-1');
    assert.deepEqual(view.record?.claim, { planName: 'plan-a', planUid: 'uid-a' });
    assert.deepEqual(view.record?.mark, mark);
    assert.equal(view.record?.resourceVersion, '9');
    assert.equal(view.record?.status?.phase, 'Idle');
  });

  it('a node without Ready True is not ready; no record means no agent', () => {
    const view = nodeView(node({ status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }), undefined);
    assert.equal(view.ready, false);
    assert.equal(view.record, undefined);
  });

  it('a parsed Node keeps only what the operator reads (the cache holds every Node of the fleet)', () => {
    const parsed = node({
      spec: { unschedulable: true, podCIDR: '10.0.0.0/24', taints: [{ key: 'k', effect: 'NoSchedule' }] },
      status: {
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: '2026-12-01T00:00:00Z' }],
        nodeInfo: { bootID: 'boot-1', kernelVersion: '6.19.0', osImage: 'Debian GNU/Linux 13' },
        images: [{ names: ['registry.example/app@sha256:0123'], sizeBytes: 123456789 }],
        capacity: { cpu: '128', memory: '1Ti' },
      },
    });
    assert.deepEqual(parsed.spec, { unschedulable: true });
    assert.deepEqual(parsed.status, { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { bootID: 'boot-1', kernelVersion: '6.19.0' } });
    assert.deepEqual(parsed.metadata.labels, { zone: 'a' });
  });

  it('an unreadable mark is treated as absent', () => {
    assert.equal(readMark(record({ [ROLLOUT_ANNOTATION]: '{not json' })), undefined);
    assert.equal(readMark(record({ [ROLLOUT_ANNOTATION]: JSON.stringify({ planUid: 'x', phase: 'Sideways' }) })), undefined);
  });
});
