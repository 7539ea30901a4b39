// Issue 18 item 16: a Preview of a large fleet must produce a status the apiserver stores: every list bounded, counts
// for what the lists leave out, and the whole object well under etcd's 1.5 MiB request limit even at the schema's
// longest names and messages.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LiveUpdatePlanStatus } from '../../../src/api/plan';
import { planRollout } from '../../../src/operator/planner';
import { agentStatus, makeNode, makePlan, TARGET } from '../../support/fleet-arbitrary';

const NOW = new Date('2030-03-04T10:00:00Z');
/** Well under etcd's 1.5 MiB request limit, with room for metadata, spec and managedFields. */
const STATUS_BUDGET = 1024 * 1024;

/** `count` legal node names of `length` characters (253 is the longest a Node may have). */
const names = (count: number, length: number) => Array.from({ length: count }, (_, i) => `${String(i).padStart(6, '0')}-${'n'.repeat(length - 7)}`);

function previewOf(count: number, nameLength: number, skippedEvery = 0) {
  const nodes = names(count, nameLength).map((name, i) =>
    skippedEvery && i % skippedEvery === 0 ? makeNode(name, { record: { status: agentStatus({ kernelRelease: TARGET }) } }) : makeNode(name),
  );
  const plan = makePlan({ strategy: { mode: 'Preview', steps: [{ nodes: 1 }, { nodes: '10%' }, { nodes: '50%' }, { nodes: '100%' }] } });
  return planRollout({ plan, nodes, now: NOW, deleting: false }).status;
}

describe('Preview status of a large fleet (issue 18 item 16)', () => {
  for (const [count, nameLength] of [
    [5000, 45],
    [5000, 253],
    [6000, 63],
  ] as const) {
    it(`${count} nodes with ${nameLength}-character names: schema-valid, bounded, counted, under 1 MiB`, () => {
      const status = previewOf(count, nameLength, 3);
      const parsed = LiveUpdatePlanStatus.safeParse(status);
      assert.ok(parsed.success, `the status breaks its own schema: ${parsed.success ? '' : parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      const bytes = Buffer.byteLength(JSON.stringify(status));
      assert.ok(bytes < STATUS_BUDGET, `status is ${bytes} bytes, over ${STATUS_BUDGET}`);
      const preview = status.preview!;
      const eligible = count - Math.ceil(count / 3);
      assert.equal(status.summary?.eligible, eligible);
      assert.equal(preview.eligible, eligible, 'preview.eligible counts the whole order');
      assert.equal(preview.selected, count, 'preview.selected counts every node the eligibility list covers');
      assert.equal(preview.batches.reduce((n, b) => n + b.size, 0), eligible, 'batch sizes add up to every eligible node');
      const [tenth, half] = [Math.ceil(eligible / 10), Math.ceil(eligible / 2)]; // steps are percentages of the eligible nodes
      assert.deepEqual(preview.batches.map((b) => b.size), [1, tenth - 1, half - tenth, eligible - half]);
      for (const b of preview.batches) assert.ok(b.nodes.length <= b.size);
      assert.ok(preview.order.length > 0 && preview.order.length < eligible, 'order is listed in part');
      assert.ok((preview.nodes?.length ?? 0) > 0 && (preview.nodes?.length ?? 0) < count, 'eligibility is listed in part');
    });
  }

  it('a small fleet is listed in full', () => {
    const status = previewOf(5, 10);
    assert.equal(status.preview?.order.length, 5);
    assert.deepEqual(status.preview?.batches.map((b) => [b.size, b.nodes.length]), [[1, 1], [0, 0], [2, 2], [2, 2]]);
    assert.equal(status.preview?.nodes?.length, 5);
  });
});
