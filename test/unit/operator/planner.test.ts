import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LiveUpdateNodeStatus } from '../../../src/api/node';
import type { LiveUpdatePlan } from '../../../src/api/plan';
import { findCondition } from '../../../src/kube/conditions';
import type { NodeView, PlannerOutput, RolloutMark, StoredPhase } from '../../../src/operator/model';
import { planRollout } from '../../../src/operator/planner';
import { agentStatus, makeNode, makePlan, PLAN_UID, TARGET } from '../../support/fleet-arbitrary';

const NOW = new Date('2030-03-04T10:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const MIN = 60_000;

const plan = (spec: Record<string, unknown> = {}) => makePlan(spec);
const pass = (p: LiveUpdatePlan, nodes: NodeView[], deleting = false): PlannerOutput => planRollout({ plan: p, nodes, now: NOW, deleting });

/** A node this plan works on: our claim and mark, and the agent's report for (plan uid, attempt 1). */
function ours(name: string, phase: StoredPhase, o: { since?: number; cordoned?: boolean; report?: Partial<LiveUpdateNodeStatus>; node?: Partial<NodeView>; mark?: Partial<RolloutMark> } = {}): NodeView {
  const mark: RolloutMark = { planUid: PLAN_UID, attempt: 1, phase, since: ago(o.since ?? 0), cordoned: o.cordoned ?? true, ...o.mark };
  const status = agentStatus(o.report ? { observedPlanUID: PLAN_UID, observedAttempt: 1, ...o.report } : {});
  const claimed = !['Succeeded', 'Cancelled'].includes(phase);
  const node = makeNode(name, { unschedulable: mark.cordoned === true, record: { attempt: 1, mark, status, ...(claimed ? { claim: { planName: 'plan-a', planUid: PLAN_UID } } : {}) } });
  if (mark.cordoned) node.cordonedBy = PLAN_UID;
  return { ...node, ...o.node };
}

const released = (a: { release?: true; withdraw?: true }) => (a.release ? '+release' : a.withdraw ? '+withdraw' : '');
const kinds = (out: PlannerOutput) =>
  out.actions.map((a) => (a.kind === 'request' ? `request:${a.action}` : a.kind === 'uncordon' ? `uncordon${a.then ? `>${a.then.phase}` : ''}${released(a)}` : a.kind === 'mark' ? `mark:${a.mark.phase}${released(a)}` : a.kind));
const reasons = (out: PlannerOutput) => out.events.map((e) => e.reason);

describe('per-node flow', () => {
  const cases: { what: string; node: NodeView; spec?: Record<string, unknown>; expect: string[]; events?: string[] }[] = [
    { what: 'Prepared for our attempt → Execute', node: ours('n1', 'Preparing', { report: { phase: 'Prepared' } }), expect: ['request:Execute'] },
    { what: 'Prepared for another attempt → wait', node: ours('n1', 'Preparing', { report: { phase: 'Prepared', observedAttempt: 7 } }), expect: [] },
    { what: 'Prepared reported from an earlier boot → wait', node: ours('n1', 'Preparing', { report: { phase: 'Prepared' }, node: { bootID: 'boot-9' } }), expect: [] },
    { what: 'agent Failed before kexec → Cancel', node: ours('n1', 'Preparing', { report: { phase: 'Failed', lastError: { reason: 'PrepareFailed', message: 'x' } } }), expect: ['request:Cancel'] },
    { what: 'prepare timeout → Cancel', node: ours('n1', 'Preparing', { since: 11 * MIN }), expect: ['request:Cancel'] },
    { what: 'Cancelled by the agent → uncordon, Cancelled, release', node: ours('n1', 'Cancelling', { report: { phase: 'Cancelled' } }), expect: ['uncordon>Cancelled+release'], events: ['NodeCancelled'] },
    // The agent may be inside prepare() for this key with its old status still published: only its word ends a cancel.
    { what: 'Cancelling without the agent\'s word for this key → wait', node: ours('n1', 'Cancelling', { cordoned: false }), expect: [] },
    { what: 'Cancelling: the agent reports Preflight for this key → wait', node: ours('n1', 'Cancelling', { report: { phase: 'Preflight' } }), expect: [] },
    { what: 'Cancelling a node that never prepared: the agent answers Cancelled for the key → done', node: ours('n1', 'Cancelling', { cordoned: false, report: { phase: 'Cancelled' } }), expect: ['mark:Cancelled+release'] },
    { what: 'Cancelling without an answer within timeouts.prepare → Failed(CancelTimeout), action withdrawn', node: ours('n1', 'Cancelling', { since: 11 * MIN }), expect: ['mark:Failed+withdraw'] },
    { what: 'Verified → Finish', node: ours('n1', 'Executing', { report: { phase: 'Verified', kexecIssuedAt: ago(MIN) } }), expect: ['request:Finish'] },
    { what: 'Failed after kexec → Failed with the action withdrawn, no release, no uncordon', node: ours('n1', 'Executing', { report: { phase: 'Failed', kexecIssuedAt: ago(MIN), lastError: { reason: 'DMALost', message: 'bus master clear' } } }), expect: ['mark:Failed+withdraw'], events: ['NodeFailed'] },
    { what: 'failed before kexec (no kexecIssuedAt) → Cancel', node: ours('n1', 'Executing', { report: { phase: 'Failed', lastError: { reason: 'KexecLoadFailed', message: 'x' } } }), expect: ['request:Cancel'] },
    {
      what: 'KexecRefused from the boot it prepared on → uncordon, Cancelled (not a failure), release',
      node: ours('n1', 'Executing', { mark: { bootID: 'boot-0' }, report: { phase: 'Failed', kexecIssuedAt: ago(MIN), lastError: { reason: 'KexecRefused', message: 'freeze failed' } } }),
      expect: ['uncordon>Cancelled+release'],
      events: ['NodeCancelled'],
    },
    {
      what: 'KexecRefused but from another boot than the one Execute was asked on → Failed',
      node: ours('n1', 'Executing', { mark: { bootID: 'boot-old' }, report: { phase: 'Failed', kexecIssuedAt: ago(MIN), lastError: { reason: 'KexecRefused', message: 'x' } } }),
      expect: ['mark:Failed+withdraw'],
    },
    { what: 'the agent refused an Execute past its deadline → Cancel', node: ours('n1', 'Executing', { report: { phase: 'Cancelled', lastError: { reason: 'ExecuteExpired', message: 'x' } } }), expect: ['request:Cancel'] },
    { what: 'no return within nodeReturn → Failed(NodeLost), action withdrawn', node: ours('n1', 'Executing', { since: 16 * MIN }), expect: ['mark:Failed+withdraw'] },
    { what: 'kexec issued while we stored Preparing → Executing, never Cancel', node: ours('n1', 'Preparing', { since: 60 * MIN, report: { phase: 'Executing', kexecIssuedAt: ago(MIN) } }), expect: ['mark:Executing'] },
    { what: 'Finished and Ready, no soak → uncordon, Succeeded and release in one pass', node: ours('n1', 'Finishing', { report: { phase: 'Finished' } }), expect: ['uncordon>Succeeded+release'], events: ['NodeSucceeded'] },
    { what: 'Finished and Ready → uncordon, soak', node: ours('n1', 'Finishing', { report: { phase: 'Finished' } }), spec: { strategy: { nodeSoak: '2m' } }, expect: ['uncordon>Soaking'] },
    { what: 'Finished but NotReady → wait', node: ours('n1', 'Finishing', { report: { phase: 'Finished' }, node: { ready: false } }), expect: [] },
    { what: 'Finished on a node we did not cordon → Soaking without uncordon', node: ours('n1', 'Finishing', { cordoned: false, report: { phase: 'Finished' } }), spec: { strategy: { nodeSoak: '2m' } }, expect: ['mark:Soaking'] },
    { what: 'no Finished within finish → Failed(FinishTimeout)', node: ours('n1', 'Finishing', { since: 6 * MIN }), expect: ['mark:Failed+withdraw'] },
    { what: 'soak over → Succeeded, release', node: ours('n1', 'Soaking', { since: 3 * MIN, cordoned: false }), spec: { strategy: { nodeSoak: '2m' } }, expect: ['mark:Succeeded+release'], events: ['NodeSucceeded'] },
    { what: 'soaking → wait', node: ours('n1', 'Soaking', { since: MIN, cordoned: false }), spec: { strategy: { nodeSoak: '2m' } }, expect: [] },
  ];
  for (const c of cases)
    it(c.what, () => {
      const out = pass(plan(c.spec), [c.node]);
      assert.deepEqual(kinds(out), c.expect);
      for (const reason of c.events ?? []) assert.ok(reasons(out).includes(reason), `${reason} in ${reasons(out).join()}`);
    });

  it('Failed names the agent reason; NodeLost its own', () => {
    const dma = pass(plan(), [ours('n1', 'Executing', { report: { phase: 'Failed', kexecIssuedAt: ago(MIN), lastError: { reason: 'DMALost', message: 'm' } } })]);
    assert.equal(dma.actions[0]?.kind === 'mark' && dma.actions[0].mark.reason, 'DMALost');
    const lost = pass(plan(), [ours('n1', 'Executing', { since: 16 * MIN })]);
    assert.equal(lost.actions[0]?.kind === 'mark' && lost.actions[0].mark.reason, 'NodeLost');
    assert.equal(lost.status.failedNodes?.length, 0, 'the status reports what the input holds');
  });

  it('a start cordons, then claims with the next attempt, the matched devices and Prepare in one write', () => {
    const out = pass(plan(), [makeNode('n1', { record: { attempt: 4 } })]);
    assert.deepEqual(out.actions, [
      { kind: 'cordon', node: 'n1' },
      { kind: 'claim', node: 'n1', attempt: 5, preserve: ['0000:05:00.0'], mark: { planUid: PLAN_UID, attempt: 5, phase: 'Preparing', since: NOW.toISOString(), cordoned: true } },
    ]);
    assert.deepEqual(reasons(out), [], 'a node\'s one Normal event is NodeSucceeded');
  });
  it('a node succeeding in this pass frees its slot and its unavailability for a start in the same pass', () => {
    const p = plan({ strategy: { maxInFlight: 1, maxUnavailable: 1 } });
    const out = pass(p, [ours('a', 'Finishing', { report: { phase: 'Finished' } }), makeNode('b')]);
    assert.deepEqual(kinds(out), ['uncordon>Succeeded+release', 'cordon', 'claim']);
    // A failing node frees nothing in its pass: the failure may halt the plan.
    const failing = pass(plan({ strategy: { maxInFlight: 1, maxUnavailable: 1 }, failurePolicy: { onFailure: 'Continue' } }), [ours('a', 'Finishing', { report: { phase: 'Failed' } }), makeNode('b')]);
    assert.deepEqual(kinds(failing), ['mark:Failed+withdraw']);
  });

  it('Execute carries a deadline (half of nodeReturn, at most the window\'s end) and the boot it was asked on', () => {
    const out = pass(plan(), [ours('n1', 'Preparing', { report: { phase: 'Prepared' } })]);
    const execute = out.actions[0];
    assert.ok(execute?.kind === 'request' && execute.action === 'Execute');
    assert.equal(execute.executeBy, new Date(NOW.getTime() + 7.5 * MIN).toISOString());
    assert.equal(execute.mark.bootID, 'boot-0');
    const windowed = pass(plan({ strategy: { windows: [{ schedule: '55 9 * * *', duration: '10m' }] } }), [ours('n1', 'Preparing', { report: { phase: 'Prepared' } })]).actions[0];
    assert.equal(windowed?.kind === 'request' && windowed.executeBy, '2030-03-04T10:05:00.000Z');
  });

  it('KexecRefused on the same boot is not a failure: the plan goes on', () => {
    const refused = ours('a', 'Executing', { mark: { bootID: 'boot-0' }, report: { phase: 'Failed', kexecIssuedAt: ago(MIN), lastError: { reason: 'KexecRefused', message: 'freeze failed' } } });
    const then = pass(plan(), [refused]).actions[0];
    assert.ok(then?.kind === 'uncordon' && then.then);
    assert.deepEqual({ phase: then.then.phase, reason: then.then.reason, failure: then.then.failure }, { phase: 'Cancelled', reason: 'KexecRefused', failure: false });
  });

  it('an Execute past its deadline cancels the node without counting it as failed', () => {
    const out = pass(plan(), [ours('a', 'Executing', { report: { phase: 'Cancelled', lastError: { reason: 'ExecuteExpired', message: 'late' } } })]);
    assert.ok(out.actions[0]?.kind === 'request' && out.actions[0].mark.failure === false);
  });
});

describe('records that vanish or do not parse', () => {
  const claimed = { claim: { planName: 'plan-a', planUid: PLAN_UID } };
  it('an in-flight node whose record is gone keeps our cordon and is named RecordUnreadable; the plan neither completes nor finalizes', () => {
    const gone = makeNode('a', { unschedulable: true, cordonedBy: PLAN_UID, record: null });
    for (const deleting of [false, true]) {
      const out = pass(plan(), [gone], deleting);
      assert.deepEqual(kinds(out), [], 'no uncordon');
      const skipped = out.status.skippedNodes?.find((s) => s.node === 'a');
      assert.equal(skipped?.reason, 'RecordUnreadable');
      assert.match(skipped?.message ?? '', /node a: its LiveUpdateNode does not exist/);
      assert.notEqual(out.status.phase, 'Completed');
      assert.equal(out.finalizable, false);
    }
  });
  it('a record the informer cannot parse, or whose mark does not parse: the cordon and claim stay, the plan names the parse error', () => {
    const unparsed = makeNode('a', { unschedulable: true, cordonedBy: PLAN_UID, record: null });
    unparsed.recordError = 'LiveUpdateNode a does not parse: status.devices: too big';
    const badMark = makeNode('b', { unschedulable: true, cordonedBy: PLAN_UID, record: { ...claimed, attempt: 1, action: 'Execute' } });
    badMark.recordError = 'LiveUpdateNode b annotation liveupdate.dev/rollout: not JSON (Unexpected end of JSON input)';
    const out = pass(plan(), [unparsed, badMark]);
    assert.deepEqual(kinds(out), [], 'no uncordon, no release, no claim');
    assert.match(out.status.skippedNodes?.find((s) => s.node === 'a')?.message ?? '', /status\.devices: too big/);
    assert.match(out.status.skippedNodes?.find((s) => s.node === 'b')?.message ?? '', /liveupdate\.dev\/rollout: not JSON/);
    assert.equal(out.status.summary?.failed, 2);
  });
  it('a record recreated without our mark while its agent reports our attempt under way keeps the cordon', () => {
    const recreated = makeNode('a', { unschedulable: true, cordonedBy: PLAN_UID, record: { status: agentStatus({ observedPlanUID: PLAN_UID, observedAttempt: 1, phase: 'Executing', kexecIssuedAt: ago(MIN) }) } });
    const out = pass(plan(), [recreated]);
    assert.deepEqual(kinds(out), []);
    assert.equal(out.status.skippedNodes?.[0]?.reason, 'RecordUnreadable');
  });
  it('a claim never reuses an attempt number the agent has answered (a record recreated at attempt 0)', () => {
    const recreated = makeNode('a', { record: { attempt: 0, status: agentStatus({ observedPlanUID: 'uid-other', observedAttempt: 3, phase: 'Cancelled' }) } });
    const claim = pass(plan(), [recreated]).actions.find((a) => a.kind === 'claim');
    assert.equal(claim?.kind === 'claim' && claim.attempt, 4);
  });
});

describe('budgets', () => {
  const fleet = (n: number, o: Parameters<typeof makeNode>[1] = {}) => Array.from({ length: n }, (_, i) => makeNode(`n${i}`, o));
  const claims = (out: PlannerOutput) => out.actions.filter((a) => a.kind === 'claim').map((a) => a.node);

  it('maxInFlight (rounded up) bounds the starts', () => assert.deepEqual(claims(pass(plan({ strategy: { maxInFlight: '30%', maxUnavailable: 10 } }), fleet(5))), ['n0', 'n1']));
  it('maxUnavailable counts nodes NotReady or cordoned by anyone', () => {
    const nodes = [...fleet(4), makeNode('z-down', { ready: false, record: { status: agentStatus({ kernelRelease: TARGET }) } })];
    assert.deepEqual(claims(pass(plan({ strategy: { maxInFlight: 5, maxUnavailable: 2 } }), nodes)), ['n0']);
  });
  it('a node already unschedulable costs nothing; a NotReady one waits', () => {
    const nodes = [makeNode('a', { ready: false }), makeNode('b', { unschedulable: true }), makeNode('c'), makeNode('d')];
    assert.deepEqual(claims(pass(plan({ strategy: { maxInFlight: 5, maxUnavailable: 2 } }), nodes)), ['b']);
  });
  it('when nothing can start and nothing is in flight, the status says why (a failed node spends maxUnavailable)', () => {
    const failed = ours('a', 'Failed', { mark: { failure: true, reason: 'DMALost' } });
    const out = pass(plan({ strategy: { maxInFlight: 5, maxUnavailable: 1 }, failurePolicy: { maxFailedNodes: 1 } }), [failed, makeNode('b'), makeNode('c', { ready: false })]);
    assert.deepEqual(claims(out), []);
    assert.equal(out.status.phase, 'Progressing');
    assert.match(out.status.pauseReasons?.join('; ') ?? '', /maxUnavailable \(1\) is spent: 2 selected nodes are NotReady or cordoned \(a, c\)/);
    assert.match(out.status.pauseReasons?.join('; ') ?? '', /1 pending nodes are NotReady and wait \(c\)/);
  });
  it('our cordon left without a claim (the claim write was lost) is ours: claimed without a second cordon, at no extra unavailability', () => {
    const out = pass(plan({ strategy: { maxInFlight: 5, maxUnavailable: 1 } }), [makeNode('a', { unschedulable: true, cordonedBy: PLAN_UID }), makeNode('b')]);
    assert.deepEqual(kinds(out), ['claim']);
    assert.equal(out.actions[0]?.kind === 'claim' && out.actions[0].mark.cordoned, true);
  });
  it('a cordon someone else made is not ours to lift later', () => {
    const out = pass(plan(), [makeNode('a', { unschedulable: true })]);
    assert.deepEqual(kinds(out), ['claim']);
    assert.equal(out.actions[0]?.kind === 'claim' && out.actions[0].mark.cordoned, false);
  });
  it('our cordon on a node we neither claim nor start now is lifted', () => {
    const orphan = makeNode('a', { unschedulable: true, cordonedBy: PLAN_UID });
    assert.deepEqual(kinds(pass(plan({ strategy: { paused: true } }), [orphan])), ['uncordon']);
    const deleting = pass(plan(), [orphan], true);
    assert.deepEqual(kinds(deleting), ['uncordon']);
    assert.equal(deleting.finalizable, false, 'the finalizer waits for the cordon to be lifted');
    assert.equal(pass(plan(), [makeNode('a')], true).finalizable, true);
  });
  it('the canary step takes one node, then its untimed pause waits for approval', () => {
    const p = plan({ strategy: { maxInFlight: 5, maxUnavailable: 5, steps: [{ nodes: 1, pause: {} }] } });
    assert.deepEqual(claims(pass(p, fleet(4))), ['n0']);
    const done = [ours('n0', 'Succeeded', { cordoned: false }), ...fleet(3).slice(1)];
    const paused = pass(p, done);
    assert.deepEqual(claims(paused), []);
    assert.equal(paused.status.phase, 'Paused');
    assert.deepEqual(paused.status.pause, { step: 0, since: NOW.toISOString() });
    assert.match(paused.status.pauseReasons?.join() ?? '', /approv/);
    assert.deepEqual(reasons(paused), ['StepCompleted', 'Paused']);
    const approved = makePlan({ ...p.spec, approvals: [{ step: 0, by: 'alice', at: NOW.toISOString() }] });
    approved.status = paused.status;
    const resumed = pass(approved, done);
    assert.deepEqual(claims(resumed), ['n1', 'n2']);
    assert.ok(reasons(resumed).includes('Resumed'));
  });
  it('failures beyond maxFailedNodes halt new starts; CancelInFlight also cancels before the point of no return', () => {
    const nodes = [ours('a', 'Failed', { mark: { failure: true, reason: 'DMALost' } }), ours('b', 'Preparing'), ours('c', 'Executing'), makeNode('d')];
    const halt = pass(plan({ strategy: { maxInFlight: 5 } }), nodes);
    assert.deepEqual(kinds(halt), []);
    assert.equal(halt.status.phase, 'Halted');
    assert.equal(findCondition(halt.status.conditions, 'Degraded')?.reason, 'FailureBudgetExceeded');
    assert.ok(reasons(halt).includes('Halted'));
    const cancel = pass(plan({ strategy: { maxInFlight: 5 }, failurePolicy: { onFailure: 'CancelInFlight' } }), nodes);
    assert.deepEqual(kinds(cancel), ['request:Cancel']);
    assert.equal(cancel.actions[0]?.node, 'b');
    const cont = pass(plan({ strategy: { maxInFlight: 5, maxUnavailable: 5 }, failurePolicy: { onFailure: 'Continue' } }), nodes);
    assert.deepEqual(claims(cont), ['d']);
  });
  it('a halted plan with nothing in flight stays Halted for a human (not terminal) and releases its failed nodes', () => {
    const out = pass(plan(), [ours('a', 'Failed', { mark: { failure: true, reason: 'NodeLost' } }), makeNode('b')]);
    assert.equal(out.status.phase, 'Halted');
    assert.equal(out.status.completedAt, undefined);
    assert.deepEqual(kinds(out), ['release']);
  });
});

describe('windows, pause, abort, deletion', () => {
  it('outside every window nothing starts; nextWindowStart and requeue point at the next one', () => {
    const out = pass(plan({ strategy: { windows: [{ schedule: '0 2 * * *', duration: '1h' }] } }), [makeNode('a')]);
    assert.deepEqual(out.actions, []);
    assert.equal(out.status.phase, 'WaitingForWindow');
    assert.equal(out.status.nextWindowStart, '2030-03-05T02:00:00.000Z');
    assert.equal(out.requeueAfterMs, 16 * 60 * MIN);
    assert.equal(findCondition(out.status.conditions, 'WaitingForWindow')?.status, 'True');
  });
  it('no Execute outside a window: a node Prepared after its window closed waits for the next one, up to timeouts.prepare from its start, then is cancelled (not a failure)', () => {
    const windowed = plan({ strategy: { windows: [{ schedule: '0 2 * * *', duration: '1h' }] } });
    const waiting = pass(windowed, [ours('a', 'Preparing', { since: MIN, report: { phase: 'Prepared' } })]);
    assert.deepEqual(kinds(waiting), []);
    assert.equal(waiting.requeueAfterMs, 9 * MIN, 'comes back when timeouts.prepare (10m) from the start runs out');
    const soon = pass(plan({ strategy: { windows: [{ schedule: '5 10 * * *', duration: '1h' }] } }), [ours('a', 'Preparing', { since: MIN, report: { phase: 'Prepared' } })]);
    assert.equal(soon.requeueAfterMs, 5 * MIN, 'or when the next window opens, if sooner');
    const late = pass(windowed, [ours('a', 'Preparing', { since: 10 * MIN, report: { phase: 'Prepared' } })]);
    assert.deepEqual(kinds(late), ['request:Cancel']);
    const cancel = late.actions[0];
    assert.ok(cancel?.kind === 'request');
    assert.deepEqual({ reason: cancel.mark.reason, failure: cancel.mark.failure }, { reason: 'OutsideWindow', failure: false });
    // Executing, Finishing and the rest go on outside a window: after Execute the outcome is the agent's.
    assert.deepEqual(kinds(pass(windowed, [ours('a', 'Executing', { report: { phase: 'Verified', kexecIssuedAt: ago(MIN) } })])), ['request:Finish']);
  });
  it('spec.strategy.paused stops starts only', () => {
    const out = pass(plan({ strategy: { paused: true } }), [ours('a', 'Preparing', { report: { phase: 'Prepared' } }), makeNode('b')]);
    assert.deepEqual(kinds(out), ['request:Execute']);
    assert.equal(out.status.phase, 'Paused');
    assert.equal(findCondition(out.status.conditions, 'Paused')?.reason, 'PausedBySpec');
  });
  it('abort cancels before the point of no return and lets the rest finish', () => {
    const p = plan({ abort: true });
    const orphan = makeNode('a', { unschedulable: true, cordonedBy: PLAN_UID });
    const out = pass(p, [orphan, ours('b', 'Preparing'), ours('c', 'Executing', { report: { phase: 'Verified', kexecIssuedAt: ago(MIN) } }), makeNode('d')]);
    assert.deepEqual(kinds(out), ['request:Cancel', 'request:Finish', 'uncordon']);
    assert.equal(out.status.phase, 'Aborting');
    const cancelled = out.actions.find((a) => a.kind === 'request' && a.action === 'Cancel');
    assert.equal(cancelled?.kind === 'request' && cancelled.mark.failure, false);
    assert.equal(pass(p, [ours('a', 'Cancelled', { cordoned: false }), makeNode('d')]).status.phase, 'Aborted');
  });
  it('deletion is finalizable once every node is at a safe end and released', () => {
    const busy = pass(plan(), [ours('a', 'Preparing')], true);
    assert.deepEqual(kinds(busy), ['request:Cancel']);
    assert.equal(busy.finalizable, false);
    const failed = pass(plan(), [ours('a', 'Failed', { mark: { failure: true } })], true);
    assert.deepEqual(kinds(failed), ['release']);
    assert.equal(failed.finalizable, false);
    const released = ours('a', 'Failed', { mark: { failure: true } });
    delete released.record!.claim;
    assert.equal(pass(plan(), [released], true).finalizable, true);
  });
});

describe('status and preview', () => {
  const fleet = () => [
    makeNode('a', { labels: { 'topology.kubernetes.io/zone': 'z1' } }),
    makeNode('b', { labels: { 'topology.kubernetes.io/zone': 'z1' } }),
    makeNode('c', { labels: { 'topology.kubernetes.io/zone': 'z2' } }),
    makeNode('d', { record: { status: agentStatus({ kernelRelease: TARGET }) } }),
    makeNode('other', { labels: { role: 'storage' } }),
  ];
  it('Preview shows eligibility, order and batches and touches no node', () => {
    const out = pass(plan({ strategy: { mode: 'Preview', order: 'Zone', steps: [{ nodes: 1 }, { nodes: '100%' }] }, selector: { nodeSelector: { matchLabels: { role: 'hypervisor' } }, nodeNames: ['a', 'b', 'c', 'd', 'ghost'] } }), fleet());
    assert.deepEqual(out.actions, []);
    assert.equal(out.status.phase, 'Previewed');
    assert.deepEqual(out.status.preview?.order, ['a', 'c', 'b']);
    assert.deepEqual(out.status.preview?.batches, [{ step: 0, size: 1, nodes: ['a'] }, { step: 1, size: 2, nodes: ['c', 'b'] }]);
    assert.deepEqual([out.status.preview?.eligible, out.status.preview?.selected], [3, 5]);
    assert.deepEqual(
      out.status.preview?.nodes?.map((n) => `${n.node}:${n.eligible ? 'yes' : n.reason}`),
      ['a:yes', 'b:yes', 'c:yes', 'd:UpToDate', 'ghost:NodeNotFound'],
    );
  });
  it('summary, progress, lists and conditions; lastTransitionTime kept from the previous status', () => {
    const p = plan();
    const nodes = [ours('a', 'Succeeded', { cordoned: false }), ours('b', 'Preparing'), makeNode('c'), makeNode('d', { record: { status: agentStatus({ luo: { api: 'none' } }) } })];
    const first = pass(p, nodes);
    assert.deepEqual(first.status.summary, { selected: 4, eligible: 3, pending: 1, inFlight: 1, succeeded: 1, failed: 0, cancelled: 0, skipped: 1 });
    assert.equal(first.status.progress, '1/3');
    assert.deepEqual(first.status.currentNodes, ['b']);
    assert.deepEqual(first.status.skippedNodes?.map((s) => s.reason), ['NoLUO']);
    assert.equal(first.status.observedGeneration, 1);
    assert.equal(first.status.startedAt, NOW.toISOString());
    for (const type of ['Ready', 'Progressing', 'Paused', 'Degraded', 'WaitingForWindow']) assert.ok(findCondition(first.status.conditions, type)?.reason, type);
    const later = planRollout({ plan: { ...p, status: first.status }, nodes, now: new Date(NOW.getTime() + MIN), deleting: false });
    assert.deepEqual(later.status.conditions, first.status.conditions);
    assert.equal(later.status.startedAt, NOW.toISOString());
  });
  it('Completed once every eligible node is terminal, with the event once', () => {
    const nodes = [ours('a', 'Succeeded', { cordoned: false }), ours('b', 'Cancelled', { cordoned: false, mark: { reason: 'Aborted', failure: false } })];
    const out = pass(plan(), nodes);
    assert.equal(out.status.phase, 'Completed');
    assert.deepEqual(reasons(out), ['Completed']);
    assert.equal(findCondition(out.status.conditions, 'Ready')?.status, 'True');
    assert.deepEqual(reasons(planRollout({ plan: { ...plan(), status: out.status }, nodes, now: NOW, deleting: false })), []);
  });
  it('requeueAfterMs is the nearest deadline', () => {
    const out = pass(plan({ strategy: { maxInFlight: 2 } }), [ours('a', 'Preparing', { since: 4 * MIN }), ours('b', 'Finishing', { since: 2 * MIN })]);
    assert.equal(out.requeueAfterMs, 3 * MIN);
  });
});
