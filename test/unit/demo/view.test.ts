// The live view: table rows from the plan's status and each node's record and mark; the plain-line mode.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildView, changeLines, displayPhase, PhaseClock, progressBar, renderFrame, type View } from '../../../src/demo/view';
import { plan, record, report, T0, UID } from './fixtures';

const NODES = [
  { name: 'n1', topology: 'nvme-sriov' },
  { name: 'n2', topology: 'no-passthrough' },
];
const view = (records: ReturnType<typeof record>[], status?: Parameters<typeof plan>[1]): View =>
  buildView({ plan: plan(['n1', 'n2'], status), nodes: NODES, record: (n) => records.find((r) => r.metadata.name === n) });

describe('demo view', () => {
  it('shows the operator phase, refined by the agent report for the same attempt only', () => {
    const mark = { planUid: UID, attempt: 1, since: T0 };
    assert.deepEqual(displayPhase(undefined, undefined, false), { phase: 'Pending', agent: false });
    assert.deepEqual(displayPhase(undefined, undefined, true), { phase: 'Skipped', agent: false });
    assert.deepEqual(displayPhase({ ...mark, phase: 'Preparing' }, { observedPlanUID: UID, observedAttempt: 1, phase: 'Prepared' }, false), { phase: 'Prepared', agent: true });
    assert.deepEqual(displayPhase({ ...mark, phase: 'Preparing' }, { observedPlanUID: UID, observedAttempt: 0, phase: 'Prepared' }, false), { phase: 'Preparing', agent: false });
    assert.equal(displayPhase({ ...mark, phase: 'Executing' }, { observedPlanUID: UID, observedAttempt: 1, phase: 'Rebooted' }, false).phase, 'Rebooted');
    assert.equal(displayPhase({ ...mark, phase: 'Executing' }, { observedPlanUID: UID, observedAttempt: 1, phase: 'Verified' }, false).phase, 'Verifying');
    assert.equal(displayPhase({ ...mark, phase: 'Finishing' }, { observedPlanUID: UID, observedAttempt: 1, phase: 'Finished' }, false).phase, 'Finished');
    assert.equal(displayPhase({ ...mark, phase: 'Soaking' }, undefined, false).phase, 'Uncordoned');
  });

  it('rows: kernel, preserved endpoints and bridges, DMA continuity from the verification, reason from the mark', () => {
    const verified = report({
      kernelRelease: '6.19.4-lu2',
      phase: 'Finished',
      verification: [
        { bdf: '0000:04:01.0', busMasterBefore: true, busMasterAfter: true },
        { bdf: '0000:05:00.1', busMasterBefore: true, busMasterAfter: true, dmaContinuous: true },
        { bdf: '0000:05:00.2', busMasterBefore: true, busMasterAfter: true, dmaContinuous: true },
      ],
    });
    const failed = report({ phase: 'Failed', preservation: [] });
    const v = view([record('n1', verified, { phase: 'Succeeded' }), record('n2', failed, { phase: 'Cancelled', reason: 'PrepareFailed', message: 'EIO on 0000:05:00.1' })]);
    const [n1, n2] = v.rows;
    assert.equal(n1!.phase, 'Succeeded');
    assert.equal(n1!.kernel, '6.19.4-lu2');
    assert.deepEqual(n1!.preserved, { devices: 2, bridges: 1 });
    assert.deepEqual(n1!.dma, { kind: 'continuous', devices: 2 });
    assert.equal(n1!.since, T0);
    assert.equal(n2!.phase, 'Cancelled');
    assert.deepEqual(n2!.dma, { kind: 'none' });
    assert.equal(n2!.reason, 'PrepareFailed');
    const lost = view([record('n1', report({ verification: [{ bdf: '0000:05:00.1', busMasterBefore: true, busMasterAfter: false, dmaContinuous: false }] }), { phase: 'Failed', reason: 'DMALost' })]);
    assert.deepEqual(lost.rows[0]!.dma, { kind: 'lost', lost: 1, devices: 1 });
  });

  it('a mark of another plan is not this plan’s progress; a skipped node shows the plan’s reason', () => {
    const other = record('n1', report(), { planUid: 'uid-other', phase: 'Failed', reason: 'NodeLost' });
    const v = view([other, record('n2', report())], { skippedNodes: [{ node: 'n2', reason: 'NoDevices', message: 'nothing matches' }] });
    assert.equal(v.rows[0]!.phase, 'Pending');
    assert.equal(v.rows[0]!.reason, undefined);
    assert.equal(v.rows[1]!.phase, 'Skipped');
    assert.equal(v.rows[1]!.reason, 'NoDevices');
    assert.equal(view([]).rows[0]!.kernel, '?');
  });

  it('the terminal frame: headline with the plan status, a progress bar over the nodes to update, pause reasons, the table', () => {
    const status = {
      phase: 'Paused' as const,
      currentStep: 1,
      summary: { selected: 2, eligible: 2, pending: 1, inFlight: 0, succeeded: 1, failed: 0, cancelled: 0, skipped: 0 },
      pauseReasons: ['step 0 is done; its pause waits for approval'],
    };
    const now = Date.parse(T0) + 75_000;
    const frame = renderFrame(view([record('n1', report({ phase: 'Finished' }), { phase: 'Succeeded' })], status), new PhaseClock(), now);
    const lines = frame.split('\n');
    assert.equal(lines[0], 'plan demo-rollout  Paused  step 2/2  1/2 succeeded · 0 in flight · 0 failed · 0 cancelled · 0 skipped');
    assert.equal(lines[1], `${progressBar(1, 2)} 1/2 updated`);
    assert.equal(lines[2], 'paused: step 0 is done; its pause waits for approval');
    assert.match(lines[4]!, /^NODE\s+TOPOLOGY\s+PHASE\s+KERNEL\s+DEVICES\s+BRIDGES\s+DMA\s+IN PHASE\s+REASON$/);
    assert.match(lines[5]!, /^n1\s+nvme-sriov\s+Succeeded\s+6\.19\.0-sim\s+2\s+1\s+…\s+1m15s$/);
    assert.match(lines[6]!, /^n2\s+no-passthrough\s+Pending\s+\?\s+0\s+0\s+n\/a$/);
    assert.equal(progressBar(1, 4, 8), '[██░░░░░░]');
    assert.equal(progressBar(0, 0, 4), '[░░░░]');
  });

  it('time in a phase read from the agent counts from when the demo first saw it', () => {
    const clock = new PhaseClock();
    const row = view([record('n1', report({ phase: 'Prepared' }), { phase: 'Preparing' })]).rows[0]!;
    assert.equal(row.agentPhase, true);
    assert.equal(clock.since(row, 1000), 1000);
    assert.equal(clock.since(row, 5000), 1000);
    assert.equal(clock.since({ ...row, phase: 'Rebooted' }, 7000), 7000);
    assert.equal(clock.since({ ...row, agentPhase: false }, 9000), Date.parse(T0));
  });

  it('plain mode: one line per change, nothing when nothing changed, nodes from their first report on', () => {
    const first = view([record('n1', report())]);
    assert.deepEqual(changeLines(undefined, first, 1500), [
      '+  1.5s plan demo-rollout  Pending  0/2 succeeded · 0 in flight · 0 failed · 0 cancelled · 0 skipped',
      '+  1.5s n1 Pending  kernel 6.19.0-sim',
    ]);
    assert.deepEqual(changeLines(first, view([record('n1', report())]), 2000), []);
    const preparing = view([record('n1', report({ phase: 'Prepared' }), { phase: 'Preparing' }), record('n2', report({ phase: 'Prepared', preservation: [] }), { phase: 'Preparing' })]);
    assert.deepEqual(changeLines(first, preparing, 12_345), [
      '+ 12.3s n1 Prepared  kernel 6.19.0-sim  preserving 2 devices and 1 bridge above them',
      '+ 12.3s n2 Prepared  kernel 6.19.0-sim  no passthrough device to preserve',
    ]);
    const cancelled = view([record('n1', report({ phase: 'Failed' }), { phase: 'Cancelled', reason: 'PrepareFailed', message: 'EIO' }), record('n2', report({ phase: 'Prepared', preservation: [] }), { phase: 'Preparing' })], {
      phase: 'Failed',
      pauseReasons: ['the failure budget is exceeded (onFailure: Halt)'],
    });
    assert.deepEqual(changeLines(preparing, cancelled, 20_000), [
      '+ 20.0s plan demo-rollout  Failed  0/2 succeeded · 0 in flight · 0 failed · 0 cancelled · 0 skipped',
      '+ 20.0s   paused: the failure budget is exceeded (onFailure: Halt)',
      '+ 20.0s n1 Cancelled  kernel 6.19.0-sim  PrepareFailed: EIO',
    ]);
  });
});
