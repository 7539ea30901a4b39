// The plan's status and plan-level events from one pass's decision: phase, conditions, bounded node lists, preview.
import type { Condition } from '../../api/fields';
import type { LiveUpdatePlan, LiveUpdatePlanStatus, PlanPhase } from '../../api/plan';
import { setCondition, type ConditionUpdate } from '../../kube/conditions';
import { TERMINAL, type PlanEvent } from '../model';
import type { WindowState } from '../windows';
import type { Budgets } from './counts';
import { countsAsFailure, type Fleet } from './fleet';
import type { StepState } from './steps';

/** What one pass decided, as the status reports it. */
export interface Decision {
  phase: PlanPhase;
  fleet: Fleet;
  /** Every node of the plan (started or pending) in rollout order. */
  order: string[];
  /** Nodes claimed in this pass. */
  starts: string[];
  steps: StepState;
  budgets: Budgets;
  window: WindowState;
  pauseReasons: string[];
  exceeded: boolean;
  /** Why the spec cannot run (validatePlan): Ready=False InvalidSpec. */
  problems: readonly { field: string; message: string }[];
}

/** Ready's message for a spec that cannot run: every problem, naming its field. */
const problemsMessage = (d: Decision): string => d.problems.map((p) => `${p.field}: ${p.message}`).join('; ').slice(0, 32_000);

const TERMINAL_PHASES: ReadonlySet<PlanPhase> = new Set(['Completed', 'Failed', 'Aborted']);
// The status must stay well under etcd's 1.5 MiB object limit at the schema's longest names and messages (253 and
// 512 characters): about 0.85 MiB at these bounds; counts tell what the lists leave out.
const LIST_LIMIT = { current: 256, failed: 50, skipped: 256, previewOrder: 500, batchNodes: 10, previewNodes: 256 } as const;
const MESSAGE_LIMIT = 512;

function counts(d: Decision) {
  const { fleet, starts } = d;
  const { inFlight, succeeded, failed, cancelled } = fleet.counts;
  const eligible = fleet.started.length + fleet.pending.length;
  return {
    selected: fleet.nodes.length + fleet.skipped.filter((s) => s.reason === 'NodeNotFound').length,
    eligible,
    pending: fleet.pending.length - starts.length,
    inFlight: inFlight + starts.length,
    succeeded,
    failed,
    cancelled,
    skipped: fleet.skipped.length,
  };
}

function conditionUpdates(d: Decision, summary: ReturnType<typeof counts>, spec: LiveUpdatePlan['spec']): ConditionUpdate[] {
  const { phase } = d;
  const progress = `${summary.succeeded} of ${summary.eligible} eligible nodes succeeded, ${summary.inFlight} in flight, ${summary.failed} failed, ${summary.skipped} skipped`;
  const ready: ConditionUpdate =
    phase === 'Completed' || phase === 'Previewed'
      ? { type: 'Ready', status: 'True', reason: phase, message: phase === 'Previewed' ? 'preview computed; set strategy.mode: Execute to roll' : progress }
      : { type: 'Ready', status: phase === 'Failed' || phase === 'Aborted' || phase === 'Halted' ? 'False' : 'Unknown', reason: phase, message: progress };
  const moving = summary.inFlight > 0;
  const invalid = d.problems.length > 0 && !TERMINAL_PHASES.has(phase);
  if (invalid) Object.assign(ready, { status: 'False', reason: 'InvalidSpec', message: problemsMessage(d) });
  const pause = d.steps.pause;
  const paused: ConditionUpdate = spec.strategy.paused
    ? { type: 'Paused', status: 'True', reason: 'PausedBySpec', message: d.pauseReasons.join('; ') }
    : pause
      ? { type: 'Paused', status: 'True', reason: pause.until === undefined ? 'AwaitingApproval' : 'StepPause', message: d.pauseReasons.join('; ') }
      : { type: 'Paused', status: 'False', reason: 'NotPaused', message: 'no pause in effect' };
  const degraded: ConditionUpdate = d.exceeded
    ? { type: 'Degraded', status: 'True', reason: 'FailureBudgetExceeded', message: `${summary.failed} nodes failed, more than maxFailedNodes (${d.budgets.maxFailedNodes}); onFailure: ${spec.failurePolicy.onFailure}` }
    : summary.failed > 0
      ? { type: 'Degraded', status: 'True', reason: 'NodesFailed', message: `${summary.failed} nodes failed, within maxFailedNodes (${d.budgets.maxFailedNodes})` }
      : { type: 'Degraded', status: 'False', reason: 'NoFailures', message: 'no node failed' };
  const window: ConditionUpdate =
    spec.strategy.windows.length === 0
      ? { type: 'WaitingForWindow', status: 'False', reason: 'NoWindows', message: 'no maintenance windows: nodes may start at any time' }
      : d.window.open
        ? { type: 'WaitingForWindow', status: 'False', reason: 'WindowOpen', message: 'a maintenance window is open' }
        : { type: 'WaitingForWindow', status: 'True', reason: 'OutsideWindow', message: `no window is open; next opens ${d.window.nextStart?.toISOString() ?? 'never'}` };
  return [
    ready,
    moving || !invalid
      ? { type: 'Progressing', status: moving ? 'True' : 'False', reason: moving ? 'NodesInFlight' : phase, message: progress }
      : { type: 'Progressing', status: 'False', reason: 'InvalidSpec', message: 'nothing starts until the spec is fixed' },
    paused,
    degraded,
    window,
  ];
}

function preview(d: Decision): LiveUpdatePlanStatus['preview'] {
  const targets = d.budgets.stepTargets;
  const nodes = [
    ...d.fleet.started.map((s) => ({ node: s.node.name, eligible: true })),
    ...d.fleet.pending.map((p) => ({ node: p.node.name, eligible: true })),
    ...d.fleet.skipped.map((s) => ({ node: s.node, eligible: false, reason: s.reason, message: s.message.slice(0, MESSAGE_LIMIT) })),
  ];
  return {
    eligible: d.order.length,
    selected: nodes.length,
    order: d.order.slice(0, LIST_LIMIT.previewOrder),
    batches: targets.map((end, step) => {
      const start = targets[step - 1] ?? 0;
      return { step, size: end - start, nodes: d.order.slice(start, Math.min(end, start + LIST_LIMIT.batchNodes)) };
    }),
    nodes: nodes.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0)).slice(0, LIST_LIMIT.previewNodes),
  };
}

export function buildStatus(plan: LiveUpdatePlan, now: Date, d: Decision): LiveUpdatePlanStatus {
  const previous = plan.status;
  const summary = counts(d);
  const generation = plan.metadata.generation;
  let conditions: Condition[] = previous?.conditions ?? [];
  for (const update of conditionUpdates(d, summary, plan.spec))
    conditions = setCondition(conditions, generation === undefined ? update : { ...update, observedGeneration: generation }, now).conditions;

  const inFlight = new Set([...d.fleet.started.filter((s) => !TERMINAL.has(s.mark.phase)).map((s) => s.node.name), ...d.starts]);
  const failed = d.fleet.started
    .filter((s) => countsAsFailure(s.mark))
    .sort((a, b) => Date.parse(a.mark.since) - Date.parse(b.mark.since))
    .slice(0, LIST_LIMIT.failed)
    .map(({ node, mark }) => ({
      node: node.name,
      phase: mark.phase === 'Failed' ? ('Failed' as const) : ('Cancelled' as const),
      reason: (mark.reason ?? 'Unknown').slice(0, 128),
      message: (mark.message ?? '').slice(0, 1024),
      at: mark.since,
    }));
  const started = previous?.startedAt ?? (summary.inFlight + summary.succeeded + summary.failed + summary.cancelled > 0 ? now.toISOString() : undefined);
  const completed = TERMINAL_PHASES.has(d.phase) ? (previous?.completedAt ?? now.toISOString()) : undefined;

  return {
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    phase: d.phase,
    conditions,
    summary,
    progress: `${summary.succeeded}/${summary.eligible}`,
    currentStep: d.steps.current,
    currentNodes: d.order.filter((n) => inFlight.has(n)).slice(0, LIST_LIMIT.current),
    failedNodes: failed,
    pauseReasons: d.pauseReasons.slice(0, 16),
    ...(d.steps.pause ? { pause: { step: d.steps.pause.step, since: d.steps.pause.since } } : {}),
    skippedNodes: d.fleet.skipped.slice(0, LIST_LIMIT.skipped).map((s) => ({ ...s, message: s.message.slice(0, MESSAGE_LIMIT) })),
    ...(!d.window.open && d.window.nextStart ? { nextWindowStart: d.window.nextStart.toISOString() } : {}),
    ...(started ? { startedAt: started } : {}),
    ...(completed ? { completedAt: completed } : {}),
    ...(d.phase === 'Previewed' ? { preview: preview(d) } : {}),
  };
}

/** Plan-level events, each on the transition that causes it (compared with the status this pass started from). */
export function planEvents(previous: LiveUpdatePlanStatus | undefined, d: Decision, plan: LiveUpdatePlan): PlanEvent[] {
  const was = previous?.phase;
  const is = d.phase;
  const events: PlanEvent[] = [];
  const emit = (type: PlanEvent['type'], reason: string, action: string, note: string) => events.push({ type, reason, action, note });
  const lastStep = d.budgets.stepTargets.length - 1;
  for (let step = previous?.currentStep ?? 0; step < Math.min(d.steps.completed, lastStep); step++)
    emit('Normal', 'StepCompleted', 'Step', `step ${step} done: ${d.budgets.stepTargets[step]} nodes updated`);
  const invalid = d.problems.length > 0 ? problemsMessage(d) : undefined;
  const before = previous?.conditions?.find((c) => c.type === 'Ready');
  if (invalid && !TERMINAL_PHASES.has(is) && (before?.reason !== 'InvalidSpec' || before.message !== invalid)) emit('Warning', 'InvalidSpec', 'Validate', invalid.slice(0, 1000));
  if (is === 'Paused' && was !== 'Paused') emit('Normal', 'Paused', 'Pause', d.pauseReasons.join('; '));
  if (was === 'Paused' && (is === 'Progressing' || is === 'Pending' || is === 'WaitingForWindow')) emit('Normal', 'Resumed', 'Resume', 'the pause is over');
  if ((is === 'Halted' || (is === 'Failed' && d.exceeded)) && was !== 'Halted' && was !== 'Failed')
    emit('Warning', 'Halted', 'Halt', `${d.fleet.counts.failed} nodes failed, more than maxFailedNodes (${d.budgets.maxFailedNodes}): no new nodes start (onFailure: ${plan.spec.failurePolicy.onFailure})`);
  if (is === 'WaitingForWindow' && was !== is) emit('Normal', 'WaitingForWindow', 'Wait', `no maintenance window is open; next opens ${d.window.nextStart?.toISOString() ?? 'never'}`);
  if (is === 'Completed' && was !== is) emit('Normal', 'Completed', 'Complete', `${d.fleet.counts.succeeded} nodes run ${plan.spec.target.kernel.release}`);
  if (is === 'Aborted' && was !== is) emit('Normal', 'Aborted', 'Abort', 'every node is at a safe end and released');
  return events;
}
