// The agent's phase machine, pure: (the operator's request, the journal, this boot, this process) → the next step.
// Everything the agent does starts here, so the two guards against an unprepared kexec live in one place a test can enumerate:
// Execute only when the journal says Prepared for the same (plan uid, attempt) — or this very process already
// committed to it (journal Executing, same boot) —; no Cancel past kexecIssuedAt.
import type { LuoApi } from '../host/types';
import type { Journal, JournalPhase } from './journal';

export type RequestedAction = 'None' | 'Prepare' | 'Execute' | 'Finish' | 'Cancel';

export interface Request {
  planUid?: string;
  attempt: number;
  action: RequestedAction;
  /** spec.executeBy: an Execute seen after it is cancelled, never carried out. */
  executeBy?: string;
}

export interface Situation {
  request: Request;
  journal: Journal | undefined;
  bootId: string;
  api: LuoApi;
  /** This agent process (a mainline session dies with the process that holds it). */
  processId: string;
  /** Epoch ms, for spec.executeBy. */
  now: number;
}

export type IgnoreReason = 'StaleAttempt' | 'OtherAttemptInProgress' | 'OtherPlanInProgress' | 'NotPrepared' | 'NotVerified';

export type Step =
  | { kind: 'idle' }
  | { kind: 'ignore'; reason: IgnoreReason; message: string }
  | { kind: 'prepare' }
  | { kind: 'execute' }
  /** Booted since kexec: check what came back. */
  | { kind: 'verify' }
  /** Committed to kexec, then restarted on the same boot: the kexec never happened. Fail, clean up, never retry it. */
  | { kind: 'kexec-interrupted' }
  /** Prepared by an earlier process whose LUO session died with it (mainline), or mid-prepare: report Cancelled. */
  | { kind: 'restarted-while-prepared' }
  /** Legacy LUO keeps its global state across agent restarts: carry on as the journal says. */
  | { kind: 'adopt' }
  | { kind: 'finish' }
  | { kind: 'cancel' }
  /** The journal's attempt is Preparing / Prepared but the spec no longer asks for it: cancel it under its own key. */
  | { kind: 'withdrawn'; message: string }
  /** Execute arrived after spec.executeBy: cancel instead of kexec. */
  | { kind: 'expired'; message: string }
  | { kind: 'refuse-cancel' };

/** Phases at or past the point of no return (kexecIssuedAt). */
export const PAST_NO_RETURN: ReadonlySet<JournalPhase> = new Set(['Executing', 'Rebooted', 'Verified', 'Finished']);
const ACTIVE: ReadonlySet<JournalPhase> = new Set(['Preparing', 'Prepared', 'Executing', 'Rebooted', 'Verified']);

export const isActive = (journal: Journal | undefined): boolean => journal !== undefined && ACTIVE.has(journal.phase);

export function decide(s: Situation): Step {
  const recovery = recover(s);
  if (recovery) return recovery;

  const { request, journal } = s;
  const sameKey = journal !== undefined && journal.planUid === request.planUid && journal.attempt === request.attempt;
  const stale = journal !== undefined && journal.planUid === request.planUid && request.attempt < journal.attempt;
  // The operator gave this attempt up (released the node, failed it, or claimed it anew): a held session and a
  // loaded kernel nobody will ask to Execute must not stay behind, nor block the next request.
  if (journal && (journal.phase === 'Preparing' || journal.phase === 'Prepared') && !stale && (!sameKey || request.action === 'None'))
    return {
      kind: 'withdrawn',
      message: `attempt ${journal.attempt} of plan ${journal.planName} (${journal.planUid}) was ${journal.phase}, but the spec now asks for ${request.planUid ? `${request.action} of attempt ${request.attempt} of plan uid ${request.planUid}` : 'nothing'}: cancelled, nothing stays prepared or loaded`,
    };
  if (request.action === 'None' || !request.planUid) return { kind: 'idle' };

  if (journal && !sameKey) {
    if (stale)
      return { kind: 'ignore', reason: 'StaleAttempt', message: `${request.action} for attempt ${request.attempt} ignored: this node is at attempt ${journal.attempt} of the plan` };
    // An active journal is never overwritten by another key: its state (a held session, a loaded kernel) must be
    // cancelled or finished under its own key first.
    if (isActive(journal))
      return {
        kind: 'ignore',
        reason: journal.planUid === request.planUid ? 'OtherAttemptInProgress' : 'OtherPlanInProgress',
        message: `${request.action} for attempt ${request.attempt} of plan uid ${request.planUid} ignored: attempt ${journal.attempt} of plan ${journal.planName} (${journal.planUid}) is ${journal.phase}`,
      };
  }

  if (!sameKey) {
    // Nothing was done for this key yet.
    switch (request.action) {
      case 'Prepare':
        return { kind: 'prepare' };
      case 'Cancel':
        return { kind: 'cancel' };
      case 'Execute':
        return { kind: 'ignore', reason: 'NotPrepared', message: `Execute for attempt ${request.attempt} refused: the journal holds no Prepared state for it` };
      case 'Finish':
        return { kind: 'ignore', reason: 'NotVerified', message: `Finish for attempt ${request.attempt} ignored: nothing was verified for it` };
    }
  }

  const phase = journal.phase;
  switch (request.action) {
    case 'Prepare':
      return { kind: 'idle' }; // done, or failed: a new try comes with a new attempt
    case 'Execute':
      if (phase === 'Prepared' && request.executeBy !== undefined && s.now > Date.parse(request.executeBy))
        return {
          kind: 'expired',
          message: `Execute for attempt ${request.attempt} seen at ${new Date(s.now).toISOString()}, after its deadline spec.executeBy ${request.executeBy}: cancelled before the point of no return, nothing kexecs`,
        };
      if (phase === 'Prepared') return { kind: 'execute' };
      if (phase === 'Preparing' || ((phase === 'Cancelled' || phase === 'Failed') && !journal.kexecIssuedAt))
        return { kind: 'ignore', reason: 'NotPrepared', message: `Execute for attempt ${request.attempt} refused: the attempt is ${phase}, not Prepared` };
      return { kind: 'idle' };
    case 'Finish':
      return phase === 'Verified' ? { kind: 'finish' } : { kind: 'idle' };
    case 'Cancel':
      if (phase === 'Preparing' || phase === 'Prepared') return { kind: 'cancel' };
      if (PAST_NO_RETURN.has(phase) && journal.lastError?.reason !== 'PastPointOfNoReturn') return { kind: 'refuse-cancel' };
      return { kind: 'idle' };
  }
}

/** What a journal left by an earlier boot or process demands, whatever the operator asks now. */
function recover({ journal, bootId, api, processId }: Situation): Step | undefined {
  if (!journal) return undefined;
  const mine = journal.holder === processId;
  switch (journal.phase) {
    case 'Executing':
      if (bootId !== journal.before.bootId) return { kind: 'verify' };
      // Ours, same boot: we committed to kexec but announcing it (the status write) failed, so the kexec was never
      // issued; our LUO state is still held. Finish what was committed. Another process's: it never happened.
      return mine ? { kind: 'execute' } : { kind: 'kexec-interrupted' };
    case 'Rebooted':
      return { kind: 'verify' };
    case 'Preparing':
      return mine ? undefined : { kind: 'restarted-while-prepared' };
    case 'Prepared':
      if (mine) return undefined;
      return api === 'legacy' ? { kind: 'adopt' } : { kind: 'restarted-while-prepared' };
    default:
      return undefined;
  }
}
