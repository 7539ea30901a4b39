// One node's next step in a rollout (DESIGN §4), level-triggered from our mark and the agent's report for
// (plan uid, attempt). At most one transition per node per pass; every write it asks for is idempotent.
import { durationMs } from '../../api/duration';
import type { LiveUpdateNodeStatus } from '../../api/node';
import type { LiveUpdatePlanSpec } from '../../api/plan';
import { releaseUncordoned, uncordonedByHuman } from './release';
import { TERMINAL, type NodeAction, type NodeView, type PlanEvent, type RolloutMark, type StoredPhase } from '../model';
import type { WindowState } from '../windows';

/** Why every node before the point of no return is being cancelled; none of these is the node's failure. */
export type StopReason = 'Aborted' | 'PlanDeleted' | 'CancelledByPolicy';

export interface FlowContext {
  planUid: string;
  spec: LiveUpdatePlanSpec;
  now: Date;
  stop?: StopReason;
  /** The plan is over (or being deleted): Failed nodes, kept claimed for a human until now, are released too. */
  planEnded: boolean;
  /** Execute, like a start, only inside a maintenance window. */
  window: WindowState;
}

export interface FlowStep {
  actions: NodeAction[];
  events: PlanEvent[];
  /** Epoch ms at which this node's situation changes without any report (timeout, soak end). */
  deadline?: number;
}

/** Phases in which the plan has not asked for Execute: Cancel is still ours to send. */
const BEFORE_EXECUTE: ReadonlySet<StoredPhase> = new Set(['Preparing', 'Cancelling']);

const STOP_MESSAGES: Record<StopReason, string> = {
  Aborted: 'the plan was aborted (spec.abort)',
  PlanDeleted: 'the plan is being deleted',
  CancelledByPolicy: 'the failure budget is exceeded and onFailure is CancelInFlight',
};

/** The agent's report if it answers this attempt and is from the node's current boot; otherwise nothing to act on. */
function reportFor(node: NodeView, mark: RolloutMark, planUid: string): LiveUpdateNodeStatus | undefined {
  const status = node.record?.status;
  if (status?.observedPlanUID !== planUid || status.observedAttempt !== mark.attempt) return undefined;
  return node.bootID !== undefined && status.bootID !== node.bootID ? undefined : status;
}

/** Agent reasons that end a node Cancelled without counting against the failure budget: the node did nothing wrong. */
const NOT_A_FAILURE: ReadonlySet<string> = new Set(['ExecuteExpired']);

/** What the agent measured, for the one Normal event a node gets (its milestones are in the mark and the status). */
function outcome(report: LiveUpdateNodeStatus | undefined): string {
  const verification = report?.verification ?? [];
  const kept = verification.filter((v) => v.busMasterAfter).length;
  const blackout = report?.timings?.blackoutMs;
  return `${verification.length ? `: ${kept}/${verification.length} devices and bridges kept bus master` : ''}${blackout === undefined ? '' : `, blackout ${blackout} ms`}`;
}

export function advanceNode(node: NodeView, mark: RolloutMark, ctx: FlowContext): FlowStep {
  const { planUid, spec, now } = ctx;
  const name = node.name;
  const step: FlowStep = { actions: [], events: [] };
  const at = now.toISOString();
  const since = Date.parse(mark.since);
  const timeout = (key: keyof LiveUpdatePlanSpec['timeouts']) => durationMs(spec.timeouts[key]);
  const next = (phase: StoredPhase, extra: Partial<RolloutMark> = {}): RolloutMark => ({
    planUid,
    attempt: mark.attempt,
    phase,
    since: at,
    ...(mark.cordoned === undefined ? {} : { cordoned: mark.cordoned }),
    ...extra,
  });
  const event = (type: PlanEvent['type'], reason: string, action: string, note: string) =>
    step.events.push({ type, reason, action, note: note.slice(0, 1024), node: name });
  const waitUntil = (deadline: number) => {
    step.deadline = deadline;
    return step;
  };
  const request = (action: 'Execute' | 'Finish' | 'Cancel', then: RolloutMark, executeBy?: number) => {
    step.actions.push({ kind: 'request', node: name, action, mark: then, ...(executeBy === undefined ? {} : { executeBy: new Date(executeBy).toISOString() }) });
    return step;
  };
  const cancel = (reason: string, message: string, failure: boolean) => request('Cancel', next('Cancelling', { reason, message, failure }));
  // The action is withdrawn with the verdict: an agent that was only cut off must not act on it later.
  const fail = (reason: string, message: string) => {
    step.actions.push({ kind: 'mark', node: name, mark: next('Failed', { reason, message, failure: true }), withdraw: true });
    event('Warning', 'NodeFailed', 'Fail', `node ${name} failed (${reason}): ${message}; it stays cordoned for a human: once repaired, kubectl liveupdate release ${name} (or kubectl uncordon ${name}) gives it back`);
    return step;
  };
  /** Uncordon if we cordoned (and `uncordon`: a soak came after the uncordon), then the terminal mark and the node given back in one write. */
  const end = (then: RolloutMark, uncordon = true) =>
    step.actions.push(uncordon && mark.cordoned === true ? { kind: 'uncordon', node: name, then, release: true } : { kind: 'mark', node: name, mark: then, release: true });
  const endCancelled = (reason: string, message: string, failure: boolean) => {
    end(next('Cancelled', { reason, message, failure }));
    event(failure ? 'Warning' : 'Normal', 'NodeCancelled', 'Cancel', `node ${name} cancelled before the point of no return (${reason}): ${message}`);
    return step;
  };
  const succeed = (uncordon: boolean) => {
    end(next('Succeeded'), uncordon);
    event('Normal', 'NodeSucceeded', 'Succeed', `node ${name} runs ${spec.target.kernel.release} (attempt ${mark.attempt})${outcome(reportFor(node, mark, planUid))}`);
    return step;
  };
  const agentError = (status: LiveUpdateNodeStatus, fallback: string) => ({
    reason: status.lastError?.reason ?? fallback,
    message: status.lastError?.message ?? `the agent reported ${status.phase} for attempt ${mark.attempt}`,
  });

  if (TERMINAL.has(mark.phase)) {
    if (uncordonedByHuman(node, mark)) return { ...step, ...releaseUncordoned(node, mark, at) };
    const claimed = node.record?.claim?.planUid === planUid;
    if (claimed && (mark.phase !== 'Failed' || ctx.planEnded)) step.actions.push({ kind: 'release', node: name });
    return step;
  }

  const report = reportFor(node, mark, planUid);
  // The agent is past the point of no return whatever we stored (a lost mark write): never Cancel from here on.
  if (report?.kexecIssuedAt && BEFORE_EXECUTE.has(mark.phase)) {
    step.actions.push({ kind: 'mark', node: name, mark: next('Executing') });
    return step;
  }
  const stop = ctx.stop;

  switch (mark.phase) {
    case 'Preparing': {
      if (report?.phase === 'Prepared') {
        if (stop) return cancel(stop, STOP_MESSAGES[stop], false);
        // No Execute outside a window (README, "Maintenance windows"): a node Prepared after its window closed holds its
        // prepared state for a window to open until timeouts.prepare after its start, then is cancelled (not a failure).
        const { window } = ctx;
        if (!window.open) {
          const giveUp = since + timeout('prepare');
          if (now.getTime() >= giveUp)
            return cancel('OutsideWindow', `node ${name} was Prepared after its maintenance window closed, and none opened within timeouts.prepare (${spec.timeouts.prepare}) of its start`, false);
          return waitUntil(Math.min(giveUp, window.nextStart?.getTime() ?? giveUp));
        }
        // The kexec must start while the window is open and early enough to come back within nodeReturn.
        const executeBy = Math.min(now.getTime() + timeout('nodeReturn') / 2, window.closesAt?.getTime() ?? Infinity);
        return request('Execute', next('Executing', report.bootID ? { bootID: report.bootID } : {}), executeBy);
      }
      if (report?.phase === 'Failed' || report?.phase === 'Cancelled') {
        const { reason, message } = agentError(report, 'PrepareFailed');
        return cancel(reason, message, true);
      }
      if (stop) return cancel(stop, STOP_MESSAGES[stop], false);
      const deadline = since + timeout('prepare');
      if (now.getTime() >= deadline) return cancel('PrepareTimeout', `node ${name} did not report Prepared within ${spec.timeouts.prepare}`, true);
      return waitUntil(deadline);
    }

    // Execute was written: the outcome is the agent's. No Cancel from here, even on abort.
    case 'Executing': {
      if (report?.phase === 'Verified' || report?.phase === 'Finished') return request('Finish', next('Finishing'));
      if (report?.phase === 'Failed' || report?.phase === 'Cancelled') {
        const { reason, message } = agentError(report, report.phase === 'Failed' ? 'ExecuteFailed' : 'CancelledByAgent');
        // The kernel refused reboot(KEXEC) and the agent answers from the boot it prepared on: the old kernel runs with
        // everything cancelled (the agent undid it), so the node ends as a cancel, not a failure past the point of no return.
        if (reason === 'KexecRefused' && report.bootID !== undefined && report.bootID === (mark.bootID ?? node.bootID)) return endCancelled(reason, message, false);
        // Refused before reboot(KEXEC) (e.g. kexec load failed, Execute past its deadline): still on the old kernel, cancel cleanly.
        return report.kexecIssuedAt ? fail(reason, message) : cancel(reason, message, !NOT_A_FAILURE.has(reason));
      }
      const returnBy = since + timeout('nodeReturn');
      if (report?.phase !== 'Rebooted') {
        if (now.getTime() >= returnBy) return fail('NodeLost', `node ${name} did not come back within ${spec.timeouts.nodeReturn} of Execute`);
        return waitUntil(returnBy);
      }
      const verifyBy = returnBy + timeout('verify');
      if (now.getTime() >= verifyBy) return fail('VerifyTimeout', `node ${name} rebooted but did not verify within ${spec.timeouts.verify} after nodeReturn`);
      return waitUntil(verifyBy);
    }

    case 'Finishing': {
      if (report?.phase === 'Finished' && node.ready) {
        if (durationMs(spec.strategy.nodeSoak) === 0) return succeed(true);
        const then = next('Soaking');
        step.actions.push(mark.cordoned === true ? { kind: 'uncordon', node: name, then } : { kind: 'mark', node: name, mark: then });
        return step;
      }
      if (report?.phase === 'Failed') {
        const { reason, message } = agentError(report, 'FinishFailed');
        return fail(reason, message);
      }
      const deadline = since + timeout('finish');
      if (now.getTime() >= deadline)
        return report?.phase === 'Finished'
          ? fail('NodeNotReady', `node ${name} finished but its Node is not Ready within ${spec.timeouts.finish}`)
          : fail('FinishTimeout', `node ${name} did not report Finished within ${spec.timeouts.finish}`);
      return waitUntil(deadline);
    }

    case 'Soaking': {
      // Deletion or abort need no soak: the node is updated and uncordoned; only counting it done waits.
      const deadline = since + durationMs(spec.strategy.nodeSoak);
      if (now.getTime() < deadline && !stop) return waitUntil(deadline);
      return succeed(false);
    }

    case 'Cancelling': {
      // Only the agent's word for this very key ends a cancel: Cancelled (also its answer to a key it never started), or a
      // failure before kexec. An old status may come from an agent still inside prepare() for this key.
      const undone = report?.phase === 'Cancelled' || (report?.phase === 'Failed' && !report.kexecIssuedAt);
      if (undone) return endCancelled(mark.reason ?? 'Cancelled', mark.message ?? 'cancelled', mark.failure ?? true);
      const deadline = since + timeout('prepare');
      // An agent that never confirms leaves the node's state unknown: a human's call, like a failure after kexec.
      if (now.getTime() >= deadline) return fail('CancelTimeout', `node ${name} did not confirm Cancel within ${spec.timeouts.prepare}`);
      return waitUntil(deadline);
    }
  }
  return step;
}
