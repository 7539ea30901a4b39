// The demo's ending: per-node summary, the verdict against what the plan prescribes, and the JSON form.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFaultFlag, resolveFaultNode } from '../../../src/demo/faults';
import { judge, nodeSummaries, renderSummary, summaryJson, type NodeSummary } from '../../../src/demo/summary';
import { plan, record, report } from './fixtures';

const TARGET = '6.19.4-lu2';
const NAMES = ['n1', 'n2', 'n3'];
const fault = (raw: string) => resolveFaultNode(parseFaultFlag(raw), NAMES);
const noSkip = () => undefined;
const node = (name: string, extra: Partial<NodeSummary> = {}): NodeSummary => ({
  node: name,
  topology: 'nvme-sriov',
  phase: 'Succeeded',
  kernelBefore: '6.19.0-sim',
  kernelAfter: TARGET,
  planned: { devices: 2, bridges: 1 },
  preserved: { devices: 2, bridges: 1 },
  dmaContinuous: true,
  timings: {},
  ...extra,
});

describe('demo summary', () => {
  it('per node: outcome, kernel before → after, what kept bus master against the plan, DMA, timings', () => {
    const verified = report({
      kernelRelease: TARGET,
      phase: 'Finished',
      verification: [
        { bdf: '0000:04:01.0', busMasterBefore: true, busMasterAfter: true },
        { bdf: '0000:05:00.1', busMasterBefore: true, busMasterAfter: true, dmaContinuous: true },
        { bdf: '0000:05:00.2', busMasterBefore: true, busMasterAfter: false, dmaContinuous: false },
      ],
      timings: { prepareMs: 40, kexecMs: 20, blackoutMs: 3400, verifyMs: 30, finishMs: 9 },
    });
    const records = [record('n1', verified, { phase: 'Failed', reason: 'DMALost', message: '0000:05:00.2: bus master cleared' })];
    const [n1] = nodeSummaries(plan(['n1']), [{ name: 'n1', topology: 'nvme-sriov' }], (n) => records.find((r) => r.metadata.name === n), new Map([['n1', '6.19.0-sim']]));
    assert.deepEqual(n1, {
      node: 'n1',
      topology: 'nvme-sriov',
      phase: 'Failed',
      reason: 'DMALost',
      message: '0000:05:00.2: bus master cleared',
      kernelBefore: '6.19.0-sim',
      kernelAfter: TARGET,
      planned: { devices: 2, bridges: 1 },
      preserved: { devices: 1, bridges: 1 },
      dmaContinuous: false,
      timings: { prepareMs: 40, kexecMs: 20, blackoutMs: 3400, verifyMs: 30, finishMs: 9 },
    });
  });

  it('a failed attempt whose status lost its closure still counts what the verification checked', () => {
    const failed = report({
      phase: 'Failed',
      preservation: [],
      devices: [
        { bdf: '0000:04:01.0', vendor: '8086', device: '347a', class: '060400', busMaster: true, inUse: false, upstream: [] },
        { bdf: '0000:05:00.1', vendor: '144d', device: 'a824', class: '010802', busMaster: false, inUse: false, upstream: ['0000:04:01.0'] },
      ],
      verification: [
        { bdf: '0000:04:01.0', busMasterBefore: true, busMasterAfter: true },
        { bdf: '0000:05:00.1', busMasterBefore: true, busMasterAfter: false, dmaContinuous: false },
      ],
    });
    const records = [record('n1', failed, { phase: 'Failed', reason: 'DMALost' })];
    const [n1] = nodeSummaries(plan(['n1']), [{ name: 'n1', topology: 'nvme-sriov' }], () => records[0], new Map());
    assert.deepEqual([n1!.planned, n1!.preserved, n1!.dmaContinuous], [{ devices: 1, bridges: 1 }, { devices: 0, bridges: 1 }, false]);
  });

  it('without faults: Completed, every node Succeeded on the target with DMA intact, or skipped where the plan says so', () => {
    const skipMixed = (n: string) => (n === 'n3' ? '0001:01:00.0 cannot be preserved' : undefined);
    const nodes = [node('n1'), node('n2', { topology: 'no-passthrough', planned: { devices: 0, bridges: 0 }, preserved: { devices: 0, bridges: 0 }, dmaContinuous: null }), node('n3', { phase: 'Skipped', reason: 'DevicesNotPreservable', kernelAfter: '6.19.0-sim' })];
    const verdict = judge('Completed', nodes, [], TARGET, skipMixed);
    assert.equal(verdict.ok, true, verdict.lines.join('\n'));
    assert.deepEqual(verdict.lines, [
      '✓ plan Completed, as prescribed',
      '✓ n3: Skipped (DevicesNotPreservable): 0001:01:00.0 cannot be preserved',
      `✓ 2/3 nodes live-updated to ${TARGET}: 2 passthrough devices and 1 bridge kept bus master, DMA never stopped`,
    ]);
    assert.equal(judge('Completed', [node('n1', { dmaContinuous: false })], [], TARGET, noSkip).ok, false);
    assert.equal(judge('Completed', [node('n1', { kernelAfter: '6.19.0-sim' })], [], TARGET, noSkip).ok, false);
    assert.equal(judge('Completed', [node('n1', { phase: 'Pending' })], [], TARGET, noSkip).ok, false);
    assert.equal(judge('Failed', [node('n1')], [], TARGET, noSkip).ok, false);
    assert.equal(judge('Completed', [node('n3')], [], TARGET, skipMixed).ok, false, 'a node the plan must skip was updated');
  });

  it('with a fault: the plan halts (Halted, or Failed with no node left) and the node as prescribed; nodes never reached are fine', () => {
    const faults = [fault('2:prepare-error:0000:05:00.1')];
    const nodes = [node('n1'), node('n2', { phase: 'Cancelled', reason: 'PrepareFailed', kernelAfter: '6.19.0-sim' }), node('n3', { phase: 'Pending', kernelAfter: '6.19.0-sim' })];
    const verdict = judge('Halted', nodes, faults, TARGET, noSkip);
    assert.equal(verdict.ok, true, verdict.lines.join('\n'));
    assert.match(verdict.lines[0]!, /^✓ plan Halted: a node failed, more than maxFailedNodes \(0\), so onFailure: Halt started no other node, as prescribed \(it waits for a human/);
    assert.equal(judge('Failed', nodes.slice(0, 2), faults, TARGET, noSkip).ok, true, 'Failed: nothing was left to update');
    assert.match(verdict.lines[1]!, /^✓ n2: --fault 2:prepare-error:0000:05:00.1 → Cancelled \(PrepareFailed\): prepare fails on 0000:05:00.1 — before the point of no return/);

    const wrongReason = judge('Failed', [node('n2', { phase: 'Cancelled', reason: 'PrepareTimeout' })], faults, TARGET, noSkip);
    assert.equal(wrongReason.ok, false);
    assert.match(wrongReason.lines.join('\n'), /✗ n2: --fault 2:prepare-error:0000:05:00.1 → Cancelled \(PrepareTimeout\), expected Cancelled \(PrepareFailed\)/);
    assert.equal(judge('Completed', [node('n1'), node('n2')], faults, TARGET, noSkip).ok, false, 'the fault never fired');
    const notReached = judge('Failed', [node('n1', { phase: 'Failed', reason: 'NodeLost' }), node('n2', { phase: 'Pending' })], [fault('1:never-returns'), fault('2:cold-reboot')], TARGET, noSkip);
    assert.equal(notReached.ok, true, notReached.lines.join('\n'));
    assert.match(notReached.lines.join('\n'), /n2: --fault 2:cold-reboot never fired: the plan halted before reaching the node/);
    assert.equal(judge('Failed', [node('n1', { phase: 'Failed', reason: 'NodeLost' })], [fault('2:cold-reboot')], TARGET, noSkip).ok, false, 'an unfaulted node failed');
  });

  it('a resumed agent crash completes the plan', () => {
    const verdict = judge('Completed', [node('n1'), node('n2')], [fault('2:agent-crash:finish')], TARGET, noSkip);
    assert.equal(verdict.ok, true, verdict.lines.join('\n'));
  });

  it('renders a table with the blackout and writes JSON with the documented fields', () => {
    const nodes = [node('n1', { timings: { prepareMs: 48, kexecMs: 25, blackoutMs: 3467, verifyMs: 74, finishMs: 14 } }), node('n2', { phase: 'Cancelled', reason: 'PrepareFailed', kernelAfter: '6.19.0-sim', preserved: { devices: 0, bridges: 0 }, dmaContinuous: null })];
    const summary = { plan: { name: 'demo-rollout', phase: 'Failed', progress: '1/2' }, nodes, verdict: { ok: true, lines: ['✓ fine'] } };
    const text = renderSummary(summary);
    assert.match(text, /^Summary: plan demo-rollout Failed \(1\/2 succeeded\)/);
    assert.match(text, /KERNEL BEFORE → AFTER\s+DEVICES\s+BRIDGES\s+DMA\s+PREPARE ms\s+KEXEC ms\s+BLACKOUT ms/);
    assert.match(text, /n1\s+nvme-sriov\s+Succeeded\s+6\.19\.0-sim → 6\.19\.4-lu2\s+2\/2\s+1\/1\s+continuous\s+48\s+25\s+3467\s+74\s+14/);
    assert.match(text, /n2\s+nvme-sriov\s+Cancelled\s+6\.19\.0-sim → 6\.19\.0-sim\s+0\/2\s+0\/1\s+n\/a\s+PrepareFailed/);
    const json = summaryJson(summary) as { plan: object; asExpected: boolean; nodes: Record<string, unknown>[] };
    assert.deepEqual(json.plan, { name: 'demo-rollout', phase: 'Failed', progress: '1/2' });
    assert.equal(json.asExpected, true);
    assert.deepEqual(Object.keys(json.nodes[0]!), ['node', 'topology', 'phase', 'reason', 'message', 'kernelBefore', 'kernelAfter', 'preserved', 'planned', 'dmaContinuous', 'timings']);
    assert.equal(json.nodes[1]!.reason, 'PrepareFailed');
    assert.equal(json.nodes[1]!.dmaContinuous, null);
  });
});
