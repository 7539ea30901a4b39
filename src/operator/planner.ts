// The pure rollout planner (issue 9 item 4): (plan, nodes with their records and our marks, now) → actions for the
// executor, the plan's status and events. No I/O, no clock: the same input always gives the same output.
import type { PlanPhase } from '../api/plan';
import { TERMINAL, type NodeAction, type NodeView, type PlanEvent, type PlannerInput, type PlannerOutput } from './model';
import { resolveBudgets } from './planner/counts';
import { classify, lostRecord, type Candidate, type Fleet } from './planner/fleet';
import { advanceNode, type StopReason } from './planner/node-flow';
import { orderNodes } from './planner/order';
import { chooseStarts, holdsOurCordonOnly, orphanCordons, startActions, startBlockers, succeededIn, waitingReasons } from './planner/starts';
import { buildStatus, planEvents, type Decision } from './planner/status';
import { stepState, type StepState } from './planner/steps';
import { windowState, type WindowState } from './windows';

/** Preview shows what Execute would do; once a node has started (see phaseOf), the started nodes always advance. */
const previewOnly = (input: PlannerInput, fleet: Fleet): boolean => input.plan.spec.strategy.mode === 'Preview' && fleet.started.length === 0;

/** The windows cannot be evaluated (a time zone or schedule validation refused): treated as closed, nothing starts. */
const windowsUnknown = (input: PlannerInput): boolean => (input.problems ?? []).some((p) => p.field.startsWith('spec.strategy.windows'));

/** The plan still claims the node, still has its cordon to lift (orphanCordons), or holds it until a human reads its record. */
const holdsNode = (n: NodeView, planUid: string): boolean => n.record?.claim?.planUid === planUid || holdsOurCordonOnly(n, planUid) || lostRecord(n, planUid) !== undefined;

function phaseOf(input: PlannerInput, fleet: Fleet, startCount: number, exceeded: boolean, halted: boolean, steps: StepState, window: WindowState): PlanPhase {
  const { spec, metadata } = input.plan;
  const inFlight = fleet.counts.inFlight + startCount;
  if (previewOnly(input, fleet)) return 'Previewed';
  if (input.deleting || spec.abort) {
    const held = input.nodes.some((n) => holdsNode(n, metadata.uid ?? ''));
    return inFlight > 0 || held ? 'Aborting' : 'Aborted';
  }
  if (inFlight === 0 && fleet.pending.length === 0) return exceeded ? 'Failed' : 'Completed';
  // Halted waits for a human (raise maxFailedNodes, or abort): not terminal even with nothing in flight.
  if (halted) return 'Halted';
  // A spec that cannot run, or a Preview of a plan that already started (CEL forbids the switch; an older plan may
  // carry one): nothing starts, and whatever is in flight goes on.
  if ((input.problems ?? []).length > 0 || spec.strategy.mode === 'Preview') return inFlight > 0 ? 'Progressing' : fleet.started.length > 0 ? 'Paused' : 'Pending';
  if (spec.strategy.paused || steps.pause) return 'Paused';
  if (!window.open && inFlight === 0) return 'WaitingForWindow';
  return fleet.started.length + startCount > 0 ? 'Progressing' : 'Pending';
}

export function planRollout(input: PlannerInput): PlannerOutput {
  const { plan, now, deleting } = input;
  const { spec } = plan;
  const window = windowsUnknown(input) ? { open: false } : windowState(spec.strategy.windows, now);
  const planUid = plan.metadata.uid ?? '';
  const fleet = classify(spec, planUid, input.nodes);
  const { counts } = fleet;
  const budgets = resolveBudgets(spec, fleet.started.length + fleet.pending.length);
  const exceeded = counts.failed > budgets.maxFailedNodes;
  const halted = exceeded && spec.failurePolicy.onFailure !== 'Continue';
  const order = orderNodes([...fleet.started.map((s) => s.node), ...fleet.pending.map((p) => p.node)], spec.strategy.order, planUid);
  const steps = stepState(spec, budgets.stepTargets, { succeeded: counts.succeeded, inFlight: counts.inFlight, lost: counts.failed + counts.cancelled }, plan.status, now);
  const preview = previewOnly(input, fleet);

  const actions: NodeAction[] = [];
  const events: PlanEvent[] = [];
  const deadlines: number[] = [];
  const blockers = startBlockers(input, halted, steps, window);
  let starts: Candidate[] = [];
  // Nodes this plan started always advance (abort, timeouts, deletion included), whatever else the spec says.
  const stop: StopReason | undefined = deleting ? 'PlanDeleted' : spec.abort ? 'Aborted' : halted && spec.failurePolicy.onFailure === 'CancelInFlight' ? 'CancelledByPolicy' : undefined;
  const planEnded = deleting || spec.abort || (counts.inFlight === 0 && (fleet.pending.length === 0 || halted));
  for (const { node, mark } of fleet.started) {
    const step = advanceNode(node, mark, { planUid, spec, now, ...(stop ? { stop } : {}), planEnded, window });
    actions.push(...step.actions);
    events.push(...step.events);
    if (step.deadline !== undefined) deadlines.push(step.deadline);
  }
  for (const node of input.nodes)
    if (node.record?.claim?.planUid === planUid && node.record.mark?.planUid !== planUid && lostRecord(node, planUid) === undefined) actions.push({ kind: 'release', node: node.name });

  if (blockers.length === 0) starts = chooseStarts(order, fleet, budgets, steps, succeededIn(actions, fleet, planUid));
  for (const candidate of starts) {
    const record = candidate.node.record!;
    // Past every attempt this node has seen, the agent's included: a record recreated at attempt 0 must not make the
    // agent take a new claim for one it already answered.
    const attempt = Math.max(record.attempt, record.mark?.attempt ?? 0, record.status?.observedAttempt ?? 0) + 1;
    // Cordon, then claim with Prepare: the handoff from a freed slot to the next Prepare is two writes.
    actions.push(...startActions(candidate, planUid, attempt, now.toISOString()));
  }
  actions.push(...orphanCordons(input.nodes, planUid, new Set(starts.map((c) => c.node.name))));

  if (steps.pause?.until !== undefined) deadlines.push(steps.pause.until);
  // Window edges change what may start (and the status): come back when the next opens or this one closes.
  const edge = window.open ? window.closesAt : window.nextStart;
  if (edge && fleet.pending.length > 0) deadlines.push(edge.getTime());
  const phase = phaseOf(input, fleet, starts.length, exceeded, halted, steps, window);
  const waiting = blockers.length === 0 && starts.length === 0 && !preview ? waitingReasons(fleet, budgets) : [];
  const pauseReasons = phase === 'Previewed' || phase === 'Completed' || phase === 'Aborted' ? [] : [...blockers, ...waiting];
  const decision: Decision = { phase, fleet, order, starts: starts.map((c) => c.node.name), steps, budgets, window, pauseReasons, exceeded, problems: input.problems ?? [] };
  const claimsLeft = input.nodes.some((n) => holdsNode(n, planUid));
  const settled = fleet.started.every((s) => TERMINAL.has(s.mark.phase));
  return {
    actions,
    status: buildStatus(plan, now, decision),
    events: [...events, ...planEvents(plan.status, decision, plan)],
    ...(deadlines.length > 0 ? { requeueAfterMs: Math.max(0, Math.min(...deadlines) - now.getTime()) } : {}),
    finalizable: deleting && settled && !claimsLeft,
  };
}
