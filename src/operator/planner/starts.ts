// Which pending nodes start in this pass, and why none may.
import type { NodeAction, NodeView, PlannerInput, RolloutMark } from '../model';
import type { WindowState } from '../windows';
import type { Budgets } from './counts';
import { lostRecord, type Candidate, type Fleet } from './fleet';
import type { StepState } from './steps';

/** Nodes this pass marks Succeeded, and which of them it uncordons: their slots are free for starts in the same pass. */
export interface Succeeding {
  nodes: Set<string>;
  uncordoned: Set<string>;
}

export function succeededIn(actions: readonly NodeAction[], fleet: Fleet, planUid: string): Succeeding {
  const out: Succeeding = { nodes: new Set(), uncordoned: new Set() };
  // The executor lifts only our own cordon: a node someone else also cordoned stays unavailable.
  const ours = new Set(fleet.nodes.filter((n) => n.cordonedBy === planUid).map((n) => n.name));
  for (const a of actions) {
    if (a.kind === 'mark' && a.mark.phase === 'Succeeded') out.nodes.add(a.node);
    if (a.kind === 'uncordon' && a.then?.phase === 'Succeeded') {
      out.nodes.add(a.node);
      if (ours.has(a.node)) out.uncordoned.add(a.node);
    }
  }
  return out;
}

/**
 * Walks the order and claims nodes while maxInFlight, the current step's target and maxUnavailable allow. A node
 * already unschedulable costs no unavailability; a NotReady node waits (its update ends only once it is Ready).
 * Nodes succeeding in this very pass free their slot now (not a failing one: its failure may halt the plan).
 */
export function chooseStarts(order: string[], fleet: Fleet, budgets: Budgets, steps: StepState, succeeding: Succeeding): Candidate[] {
  const pending = new Map(fleet.pending.map((c) => [c.node.name, c]));
  let inFlight = fleet.counts.inFlight - succeeding.nodes.size;
  const succeeded = fleet.counts.succeeded + succeeding.nodes.size;
  let unavailable = fleet.nodes.filter((n) => !n.ready || (n.unschedulable && !succeeding.uncordoned.has(n.name))).length;
  const starts: Candidate[] = [];
  for (const name of order) {
    if (inFlight >= budgets.maxInFlight || succeeded + inFlight >= steps.startLimit) break;
    const candidate = pending.get(name);
    // A claim of ours without our mark is a leftover being released this pass.
    if (!candidate || !candidate.node.ready || candidate.node.record?.claim) continue;
    const costs = !candidate.node.unschedulable;
    if (costs && unavailable >= budgets.maxUnavailable) continue;
    starts.push(candidate);
    inFlight++;
    if (costs) unavailable++;
  }
  return starts;
}

/**
 * Why pending nodes wait although nothing blocks starts and nothing is in flight: without it a plan would sit in
 * Progressing with no word of why (a failed node left cordoned spends maxUnavailable; a pending node is NotReady).
 */
export function waitingReasons(fleet: Fleet, budgets: Budgets): string[] {
  if (fleet.pending.length === 0 || fleet.counts.inFlight > 0) return [];
  const reasons: string[] = [];
  const unavailable = fleet.nodes.filter((n) => !n.ready || n.unschedulable);
  const costly = fleet.pending.filter((c) => c.node.ready && !c.node.unschedulable && !c.node.record?.claim);
  if (costly.length > 0 && unavailable.length >= budgets.maxUnavailable)
    reasons.push(
      `maxUnavailable (${budgets.maxUnavailable}) is spent: ${unavailable.length} selected nodes are NotReady or cordoned (${unavailable
        .slice(0, 3)
        .map((n) => n.name)
        .join(', ')}${unavailable.length > 3 ? ', …' : ''})`,
    );
  const notReady = fleet.pending.filter((c) => !c.node.ready).map((c) => c.node.name);
  if (notReady.length > 0) reasons.push(`${notReady.length} pending nodes are NotReady and wait (${notReady.slice(0, 3).join(', ')}${notReady.length > 3 ? ', …' : ''})`);
  return reasons;
}

/**
 * A start in one pass: cordon the node unless it is unschedulable already (someone else's cordon, or our own left by
 * a pass whose claim was lost: cordonedBy tells which), then claim it with Prepare, the mark saying whose cordon it is.
 */
export function startActions(candidate: Candidate, planUid: string, attempt: number, at: string): NodeAction[] {
  const { node, preserve } = candidate;
  const mark: RolloutMark = { planUid, attempt, phase: 'Preparing', since: at, cordoned: node.unschedulable ? node.cordonedBy === planUid : true };
  return [...(node.unschedulable ? [] : [{ kind: 'cordon' as const, node: node.name }]), { kind: 'claim', node: node.name, attempt, preserve, mark }];
}

/**
 * Nodes carrying this plan's cordon mark without its mark on their record (the claim after our cordon was lost) and
 * not started now: lift the cordon, so no node stays cordoned by a plan that does not work on it.
 */
export function orphanCordons(nodes: readonly NodeView[], planUid: string, starting: ReadonlySet<string>): NodeAction[] {
  return nodes.filter((n) => holdsOurCordonOnly(n, planUid) && !starting.has(n.name)).map((n) => ({ kind: 'uncordon', node: n.name }));
}

/**
 * Our cordon mark on the Node, and a readable record without our mark: the plan still has this node to let go of (a
 * claim lost after our cordon). A record that is gone or unreadable is no such proof: the node keeps its cordon.
 */
export const holdsOurCordonOnly = (n: NodeView, planUid: string): boolean =>
  n.cordonedBy === planUid && n.record !== undefined && n.record.mark?.planUid !== planUid && lostRecord(n, planUid) === undefined;

/** Why no node may start now (empty: starts are up to the budgets). */
export function startBlockers(input: PlannerInput, halted: boolean, steps: StepState, window: WindowState): string[] {
  const { spec } = input.plan;
  const reasons: string[] = [];
  if (input.deleting) reasons.push('the plan is being deleted');
  else if (spec.abort) reasons.push('the plan is aborted');
  if (halted) reasons.push(`the failure budget is exceeded (onFailure: ${spec.failurePolicy.onFailure})`);
  const problems = input.problems ?? [];
  if (problems.length > 0) reasons.push(`the spec is invalid (${problems.map((p) => p.field).join(', ')}): nothing starts until it is fixed`.slice(0, 256));
  if (spec.strategy.mode === 'Preview') reasons.push('spec.strategy.mode is Preview: no node starts');
  if (spec.strategy.paused) reasons.push('spec.strategy.paused is true');
  const pause = steps.pause;
  if (pause)
    reasons.push(
      pause.until === undefined
        ? `step ${pause.step} is done; its pause waits for approval (kubectl liveupdate approve, spec.approvals step ${pause.step})`
        : `step ${pause.step} is done; its pause ends at ${new Date(pause.until).toISOString()}`,
    );
  // Windows that failed validation are closed, and the reason above says so.
  if (!window.open && !problems.some((p) => p.field.startsWith('spec.strategy.windows'))) reasons.push(`outside the maintenance windows; the next opens ${window.nextStart?.toISOString() ?? 'never'}`);
  return reasons;
}
