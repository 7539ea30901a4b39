import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Condition } from '../../../src/api/fields';
import { conditionTime, findCondition, isConditionTrue, removeCondition, setCondition, type ConditionUpdate } from '../../../src/kube/conditions';

const reason = fc.stringMatching(/^[A-Za-z]([A-Za-z0-9_,:]{0,20}[A-Za-z0-9_])?$/);
const status = fc.constantFrom('True' as const, 'False' as const, 'Unknown' as const);
const type = fc.constantFrom('Ready', 'Progressing', 'Paused', 'Degraded');
const update: fc.Arbitrary<ConditionUpdate> = fc.record(
  { type, status, reason, message: fc.string({ maxLength: 40 }), observedGeneration: fc.nat(5) },
  { requiredKeys: ['type', 'status', 'reason', 'message'] },
);
const date = fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2040-01-01T00:00:00Z'), noInvalidDate: true });

/** A valid condition list built by the helper itself, with times from the past. */
const conditions = fc.array(fc.tuple(update, date), { maxLength: 6 }).map((steps) =>
  steps.reduce<Condition[]>((list, [u, at]) => setCondition(list, u, at).conditions, []),
);

describe('setCondition', () => {
  it('keeps lastTransitionTime when status stays, whatever else changes', () => {
    fc.assert(
      fc.property(conditions, update, update, date, (list, first, edit, later) => {
        const before = setCondition(list, first, new Date('2019-06-01T12:00:00.987Z')).conditions;
        const after = setCondition(before, { ...edit, type: first.type, status: first.status }, later).conditions;
        assert.equal(findCondition(after, first.type)?.lastTransitionTime, findCondition(before, first.type)?.lastTransitionTime);
      }),
    );
  });

  it('moves lastTransitionTime to now (whole seconds) when status flips or the type is new', () => {
    fc.assert(
      fc.property(conditions, update, status, date, (list, u, other, now) => {
        fc.pre(other !== u.status);
        const before = setCondition(list, u, new Date('2019-06-01T12:00:00Z')).conditions;
        const flipped = setCondition(before, { ...u, status: other }, now);
        assert.equal(flipped.changed, true);
        assert.equal(findCondition(flipped.conditions, u.type)?.lastTransitionTime, conditionTime(now));
        assert.match(conditionTime(now), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        const fresh = setCondition(removeCondition(list, u.type).conditions, u, now).conditions;
        assert.equal(findCondition(fresh, u.type)?.lastTransitionTime, conditionTime(now));
      }),
    );
  });

  it('reports changed exactly when the list differs, never mutates its input, and yields valid conditions', () => {
    fc.assert(
      fc.property(conditions, update, date, (list, u, now) => {
        const snapshot = structuredClone(list);
        const { conditions: result, changed } = setCondition(list, u, now);
        assert.deepEqual(list, snapshot);
        assert.equal(changed, JSON.stringify(result) !== JSON.stringify(list));
        for (const c of result) Condition.parse(c);
        assert.equal(result.filter((c) => c.type === u.type).length, 1);
        // Setting the same thing again is a no-op, also after a JSON round trip (times are whole seconds).
        const again = setCondition(JSON.parse(JSON.stringify(result)) as Condition[], u, new Date(now.getTime() + 60_000));
        assert.equal(again.changed, false);
      }),
    );
  });

  it('rejects a reason the apiserver would reject, naming the condition type', () => {
    for (const bad of ['', 'has space', 'Trailing,', '9Lives', 'dash-ed', 'x'.repeat(1025)]) {
      assert.throws(() => setCondition([], { type: 'Progressing', status: 'True', reason: bad, message: '' }, new Date()), /condition Progressing: reason/);
    }
  });
});

describe('condition lookups', () => {
  it('find, test and remove by type', () => {
    const now = new Date('2026-11-30T22:19:21.123Z');
    let list = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }, now).conditions;
    list = setCondition(list, { type: 'Paused', status: 'False', reason: 'NotPaused', message: '' }, now).conditions;
    assert.equal(isConditionTrue(list, 'Ready'), true);
    assert.equal(isConditionTrue(list, 'Paused'), false);
    assert.equal(isConditionTrue(list, 'Missing'), false);
    assert.equal(findCondition(list, 'Ready')?.lastTransitionTime, '2026-11-30T22:19:21Z');
    const removed = removeCondition(list, 'Ready');
    assert.deepEqual(removed.conditions.map((c) => c.type), ['Paused']);
    assert.equal(removed.changed, true);
    assert.equal(removeCondition(removed.conditions, 'Ready').changed, false);
  });
});
