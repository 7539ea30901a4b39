// Issue 18 item 4, the planner's part: a Failed node a human uncordoned is given back (claim and cordon mark dropped,
// the failure kept as released); a cordon mark left on a node someone uncordoned no longer blocks other plans.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RolloutMark } from '../../../src/operator/model';
import { eligibility } from '../../../src/operator/planner/eligibility';
import { advanceNode } from '../../../src/operator/planner/node-flow';
import { makeNode, makePlan, PLAN_UID } from '../../support/fleet-arbitrary';

const now = new Date('2026-12-01T00:00:00Z');
const failed: RolloutMark = { planUid: PLAN_UID, attempt: 1, phase: 'Failed', since: '2026-11-30T00:00:00Z', reason: 'DMALost', failure: true, cordoned: true };
const claim = { claim: { planName: 'p', planUid: PLAN_UID }, mark: failed };
const step = (unschedulable: boolean, mark = failed) =>
  advanceNode(makeNode('n1', { unschedulable, cordonedBy: PLAN_UID, record: claim }), mark, { planUid: PLAN_UID, spec: makePlan().spec, now, planEnded: false, window: { open: true } });

describe('a Failed node a human uncordoned', () => {
  it('is released: our cordon mark lifted, the claim dropped, the failure kept with released', () => {
    const { actions, events } = step(false);
    assert.deepEqual(actions, [{ kind: 'uncordon', node: 'n1', then: { ...failed, released: { by: 'uncordon', at: now.toISOString() } }, release: true }]);
    assert.equal(events[0]?.reason, 'NodeReleased');
  });
  it('still cordoned: kept for a human (the claim stays while the plan runs)', () => assert.deepEqual(step(true).actions, []));
  it('already released: nothing more', () => assert.deepEqual(step(false, { ...failed, released: { by: 'x', at: now.toISOString() } }).actions, []));
  it('a node that was cordoned by someone else before the plan (cordoned: false) is not ours to release on an uncordon', () =>
    assert.deepEqual(step(false, { ...failed, cordoned: false }).actions, []));
});

describe('other plans and a Failed node', () => {
  const other = makePlan();
  const verdict = (unschedulable: boolean) => eligibility(makeNode('n1', { unschedulable, cordonedBy: 'uid-gone' }), other.spec, PLAN_UID);
  it('cordoned with another plan\'s mark: ClaimedByOtherPlan, naming the release verb', () => {
    const v = verdict(true);
    assert.equal(!v.eligible && v.reason, 'ClaimedByOtherPlan');
    assert.match(!v.eligible ? v.message : '', /kubectl liveupdate release n1/);
  });
  it('uncordoned by someone since (its plan may be gone): the stale mark no longer holds it', () => assert.equal(verdict(false).eligible, true));
  it('claimed by a plan that failed it: the message names the verb', () => {
    const v = eligibility(makeNode('n1', { unschedulable: true, record: { claim: { planName: 'a', planUid: 'uid-a' }, mark: { ...failed, planUid: 'uid-a' } } }), other.spec, PLAN_UID);
    assert.match(!v.eligible ? v.message : '', /which failed it \(DMALost\).*kubectl liveupdate release n1/);
  });
});
