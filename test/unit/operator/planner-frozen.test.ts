// Issue 18 item 6: nodes in flight always advance. A spec that passes CEL but cannot run (a mistyped time zone) and
// a mode switched to Preview mid-rollout only stop new starts; abort and timeouts are still honoured.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findCondition } from '../../../src/kube/conditions';
import type { NodeView, PlannerOutput, StoredPhase } from '../../../src/operator/model';
import { planRollout } from '../../../src/operator/planner';
import { validatePlan } from '../../../src/operator/validate';
import { agentStatus, makeNode, makePlan, PLAN_UID } from '../../support/fleet-arbitrary';

const NOW = new Date('2030-03-04T10:00:00Z');
const MIN = 60_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

function inFlight(name: string, phase: StoredPhase, sinceMs: number, report: Parameters<typeof agentStatus>[0] = {}): NodeView {
  const node = makeNode(name, {
    unschedulable: true,
    record: { attempt: 1, mark: { planUid: PLAN_UID, attempt: 1, phase, since: ago(sinceMs), cordoned: true }, claim: { planName: 'plan-a', planUid: PLAN_UID }, status: agentStatus({ observedPlanUID: PLAN_UID, observedAttempt: 1, ...report }) },
  });
  node.cordonedBy = PLAN_UID;
  return node;
}

const badZone = { strategy: { windows: [{ schedule: '0 2 * * *', duration: '4h', timeZone: 'Europe/Pariss' }] } };
const pass = (spec: Record<string, unknown>, nodes: NodeView[]): PlannerOutput => {
  const plan = makePlan(spec);
  return planRollout({ plan, nodes, now: NOW, deleting: false, problems: validatePlan(plan) });
};
const kinds = (out: PlannerOutput) => out.actions.map((a) => (a.kind === 'request' ? `request:${a.action}` : a.kind === 'mark' ? `mark:${a.mark.phase}` : a.kind));

describe('nodes in flight advance whatever the spec says (issue 18 item 6)', () => {
  it('the case is a real one: the time zone fails validation', () => assert.match(validatePlan(makePlan(badZone)).map((p) => p.field).join(), /spec\.strategy\.windows\[0\]\.timeZone/));

  it('invalid spec: windows that cannot be evaluated count as closed — a Prepared node waits (no Execute outside a window), a node past its prepare timeout is cancelled, nothing new starts', () => {
    const out = pass(badZone, [inFlight('a', 'Preparing', MIN, { phase: 'Prepared' }), inFlight('b', 'Preparing', 11 * MIN), makeNode('c')]);
    assert.deepEqual(kinds(out), ['request:Cancel']);
    assert.ok(out.actions.every((a) => a.node === 'b'), JSON.stringify(out.actions));
    const ready = findCondition(out.status.conditions, 'Ready');
    assert.equal(ready?.reason, 'InvalidSpec');
    assert.match(ready?.message ?? '', /spec\.strategy\.windows\[0\]\.timeZone/);
    assert.ok(out.status.pauseReasons?.some((r) => /spec is invalid/.test(r)), `pause reasons: ${out.status.pauseReasons?.join('; ')}`);
    assert.ok(out.events.some((e) => e.reason === 'InvalidSpec' && e.type === 'Warning'));
  });

  it('invalid spec: abort still cancels a node before the point of no return', () => {
    const out = pass({ ...badZone, abort: true }, [inFlight('a', 'Preparing', MIN, { phase: 'Prepared' })]);
    assert.deepEqual(kinds(out), ['request:Cancel']);
    assert.equal(out.status.phase, 'Aborting');
  });

  it('invalid spec with nothing started: no start, phase Pending', () => {
    const out = pass(badZone, [makeNode('c')]);
    assert.deepEqual(out.actions, []);
    assert.equal(out.status.phase, 'Pending');
  });

  it('mode Preview with nodes in flight: they go on (Execute, Finish, timeouts), no new starts, not Previewed', () => {
    const out = pass({ strategy: { mode: 'Preview' } }, [
      inFlight('a', 'Preparing', MIN, { phase: 'Prepared' }),
      inFlight('b', 'Executing', MIN, { phase: 'Verified', kexecIssuedAt: ago(MIN) }),
      inFlight('c', 'Executing', 16 * MIN),
      makeNode('d'),
    ]);
    assert.deepEqual(kinds(out), ['request:Execute', 'request:Finish', 'mark:Failed']);
    assert.notEqual(out.status.phase, 'Previewed');
    assert.ok(out.status.pauseReasons?.some((r) => /mode is Preview/.test(r)));
  });

  it('mode Preview with nothing started is a preview', () => {
    const out = pass({ strategy: { mode: 'Preview' } }, [makeNode('d')]);
    assert.deepEqual(out.actions, []);
    assert.equal(out.status.phase, 'Previewed');
  });
});
