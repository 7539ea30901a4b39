// The agent's phase machine: a table of the protocol's cases and properties over random situations for the two
// guards (never Execute without Prepared for that key, never Cancel past the point of no return).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decide, PAST_NO_RETURN, type RequestedAction, type Situation } from '../../../src/agent/decide';
import { JournalPhase, type Journal } from '../../../src/agent/journal';

const ME = 'process-now';
const BOOT = 'boot-1';

function journal(phase: Journal['phase'], over: Partial<Journal> = {}): Journal {
  return {
    version: 1,
    planUid: 'uid-a',
    planName: 'plan-a',
    attempt: 1,
    phase,
    holder: ME,
    preserve: [],
    closure: [],
    before: { bootId: BOOT, kernelRelease: '6.19.0', busMaster: {} },
    timings: {},
    updatedAt: '2026-11-30T00:00:00Z',
    ...over,
  };
}

const situation = (action: RequestedAction, j: Journal | undefined, over: Partial<Situation> = {}): Situation => ({
  request: { planUid: 'uid-a', attempt: 1, action },
  journal: j,
  bootId: BOOT,
  api: 'mainline',
  processId: ME,
  now: Date.parse('2026-11-30T00:10:00Z'),
  ...over,
});

describe('agent phase machine', () => {
  const cases: [string, Situation, string][] = [
    ['no request', situation('None', undefined), 'idle'],
    ['prepare on a clean node', situation('Prepare', undefined), 'prepare'],
    ['prepare again after Prepared', situation('Prepare', journal('Prepared')), 'idle'],
    ['execute after Prepared', situation('Execute', journal('Prepared')), 'execute'],
    ['execute without a journal', situation('Execute', undefined), 'ignore'],
    ['execute for another attempt than the Prepared one: the Prepared one is withdrawn', situation('Execute', journal('Prepared'), { request: { planUid: 'uid-a', attempt: 2, action: 'Execute' } }), 'withdrawn'],
    ['execute while Preparing (same process)', situation('Execute', journal('Preparing')), 'ignore'],
    ['execute after a failed prepare', situation('Execute', journal('Failed')), 'ignore'],
    ['execute after a cancel', situation('Execute', journal('Cancelled')), 'ignore'],
    ['execute again after a failure past the point of no return', situation('Execute', journal('Failed', { kexecIssuedAt: '2026-11-30T00:00:00Z' })), 'idle'],
    ['new boot after Executing', situation('Execute', journal('Executing'), { bootId: 'boot-2', processId: 'p2' }), 'verify'],
    ['same boot, new process after Executing', situation('Execute', journal('Executing'), { processId: 'p2' }), 'kexec-interrupted'],
    ['same process re-runs an Executing journal (the kexecIssuedAt status write failed)', situation('Execute', journal('Executing')), 'execute'],
    ['…whatever the operator asks now', situation('Cancel', journal('Executing')), 'execute'],
    ['verification interrupted', situation('Execute', journal('Rebooted'), { bootId: 'boot-2', processId: 'p2' }), 'verify'],
    ['finish after Verified', situation('Finish', journal('Verified')), 'finish'],
    ['finish again after Finished', situation('Finish', journal('Finished')), 'idle'],
    ['finish before verified', situation('Finish', journal('Prepared')), 'idle'],
    ['cancel while Prepared', situation('Cancel', journal('Prepared')), 'cancel'],
    ['cancel of a never-prepared attempt', situation('Cancel', undefined), 'cancel'],
    ['cancel after kexec', situation('Cancel', journal('Verified')), 'refuse-cancel'],
    ['cancel after kexec, already refused', situation('Cancel', journal('Verified', { lastError: { reason: 'PastPointOfNoReturn', message: '' } })), 'idle'],
    ['restart while Prepared, mainline', situation('Execute', journal('Prepared', { holder: 'old' })), 'restarted-while-prepared'],
    ['restart while Prepared, legacy', situation('Execute', journal('Prepared', { holder: 'old' }), { api: 'legacy' }), 'adopt'],
    ['restart while Preparing, legacy', situation('Prepare', journal('Preparing', { holder: 'old' }), { api: 'legacy' }), 'restarted-while-prepared'],
    ['stale attempt', situation('Prepare', journal('Finished', { attempt: 3 })), 'ignore'],
    ['another plan while this one is Prepared: the old attempt is withdrawn', situation('Prepare', journal('Prepared', { planUid: 'uid-b' })), 'withdrawn'],
    ['another plan while this one is past the point of no return', situation('Prepare', journal('Verified', { planUid: 'uid-b' })), 'ignore'],
    ['the node released while Prepared', situation('None', journal('Prepared'), { request: { attempt: 1, action: 'None' } }), 'withdrawn'],
    ['the action withdrawn (same key) while Preparing', situation('None', journal('Preparing', { holder: ME })), 'withdrawn'],
    ['the node released after Finished', situation('None', journal('Finished'), { request: { attempt: 1, action: 'None' } }), 'idle'],
    ['a stale lower attempt while Prepared', situation('Execute', journal('Prepared', { attempt: 3 })), 'ignore'],
    ['execute before executeBy', situation('Execute', journal('Prepared'), { request: { planUid: 'uid-a', attempt: 1, action: 'Execute', executeBy: '2026-11-30T00:11:00Z' } }), 'execute'],
    ['execute past executeBy', situation('Execute', journal('Prepared'), { request: { planUid: 'uid-a', attempt: 1, action: 'Execute', executeBy: '2026-11-30T00:09:59Z' } }), 'expired'],
    ['another plan after this one finished', situation('Prepare', journal('Finished', { planUid: 'uid-b' })), 'prepare'],
    ['a newer attempt while an older one is Prepared', situation('Prepare', journal('Prepared'), { request: { planUid: 'uid-a', attempt: 2, action: 'Prepare' } }), 'withdrawn'],
    ['cancel of a newer attempt while an older one is Prepared', situation('Cancel', journal('Prepared'), { request: { planUid: 'uid-a', attempt: 2, action: 'Cancel' } }), 'withdrawn'],
    ['a new attempt after a failure', situation('Prepare', journal('Failed'), { request: { planUid: 'uid-a', attempt: 2, action: 'Prepare' } }), 'prepare'],
  ];
  for (const [what, s, expected] of cases) {
    it(what, () => assert.equal(decide(s).kind, expected));
  }

  const arbitrarySituation = fc.record({
    action: fc.constantFrom<RequestedAction>('None', 'Prepare', 'Execute', 'Finish', 'Cancel'),
    reqUid: fc.constantFrom('uid-a', 'uid-b'),
    reqAttempt: fc.integer({ min: 0, max: 3 }),
    hasJournal: fc.boolean(),
    phase: fc.constantFrom(...JournalPhase.options),
    jUid: fc.constantFrom('uid-a', 'uid-b'),
    jAttempt: fc.integer({ min: 0, max: 3 }),
    holderIsMe: fc.boolean(),
    sameBoot: fc.boolean(),
    api: fc.constantFrom('mainline' as const, 'legacy' as const),
    refused: fc.boolean(),
  });

  it('never executes unless the journal is Prepared for the same (plan uid, attempt), or this process committed to it on this boot', () => {
    fc.assert(
      fc.property(arbitrarySituation, (x) => {
        const j = x.hasJournal ? journal(x.phase, { planUid: x.jUid, attempt: x.jAttempt, holder: x.holderIsMe ? ME : 'old' }) : undefined;
        const step = decide(situation(x.action, j, { request: { planUid: x.reqUid, attempt: x.reqAttempt, action: x.action }, bootId: x.sameBoot ? BOOT : 'boot-2', api: x.api }));
        if (step.kind !== 'execute') return true;
        const committedHere = j !== undefined && j.phase === 'Executing' && x.holderIsMe && x.sameBoot;
        return committedHere || (j !== undefined && j.phase === 'Prepared' && j.planUid === x.reqUid && j.attempt === x.reqAttempt && x.action === 'Execute');
      }),
      { numRuns: 2000 },
    );
  });

  it('never leaves a Preparing / Prepared attempt behind that the spec no longer names (unless a stale lower attempt)', () => {
    fc.assert(
      fc.property(arbitrarySituation, (x) => {
        const j = journal(x.phase, { planUid: x.jUid, attempt: x.jAttempt });
        const request = x.action === 'None' ? { attempt: x.reqAttempt, action: x.action } : { planUid: x.reqUid, attempt: x.reqAttempt, action: x.action };
        const step = decide(situation(x.action, j, { request, api: x.api }));
        const named = x.action !== 'None' && x.jUid === x.reqUid && x.jAttempt === x.reqAttempt;
        const stale = x.action !== 'None' && x.jUid === x.reqUid && x.reqAttempt < x.jAttempt;
        return !(['Preparing', 'Prepared'].includes(x.phase) && !named && !stale) || step.kind === 'withdrawn';
      }),
      { numRuns: 2000 },
    );
  });

  it('never replaces an active journal with another key', () => {
    fc.assert(
      fc.property(arbitrarySituation, (x) => {
        const j = journal(x.phase, { planUid: x.jUid, attempt: x.jAttempt });
        const step = decide(situation(x.action, j, { request: { planUid: x.reqUid, attempt: x.reqAttempt, action: x.action }, api: x.api }));
        const otherKey = x.jUid !== x.reqUid || x.jAttempt !== x.reqAttempt;
        return !(otherKey && ['Preparing', 'Prepared'].includes(x.phase) && (step.kind === 'prepare' || step.kind === 'cancel'));
      }),
      { numRuns: 2000 },
    );
  });

  it('never cancels once the journal is past the point of no return', () => {
    fc.assert(
      fc.property(arbitrarySituation, (x) => {
        const j = x.hasJournal
          ? journal(x.phase, { planUid: x.jUid, attempt: x.jAttempt, holder: x.holderIsMe ? ME : 'old', ...(x.refused ? { lastError: { reason: 'PastPointOfNoReturn', message: '' } } : {}) })
          : undefined;
        const step = decide(situation(x.action, j, { request: { planUid: x.reqUid, attempt: x.reqAttempt, action: x.action }, bootId: x.sameBoot ? BOOT : 'boot-2', api: x.api }));
        const cancels = step.kind === 'cancel' || step.kind === 'restarted-while-prepared';
        return !(cancels && j !== undefined && PAST_NO_RETURN.has(j.phase) && j.planUid === x.reqUid && j.attempt === x.reqAttempt);
      }),
      { numRuns: 2000 },
    );
  });
});
