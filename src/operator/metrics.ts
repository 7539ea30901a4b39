// The operator's own metrics (liveupdate_*), on the manager's registry next to the controller-runtime ones.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PlanPhase, type LiveUpdatePlanStatus } from '../api/plan';
import type { NodeView } from './model';

/**
 * The states liveupdate_plan_nodes sorts a plan's selected nodes into, each node in exactly one, so a sum over the
 * label is the selection. Failed is the node phase Failed (after the point of no return); a node cancelled before it
 * is Cancelled even when it counts against the failure budget.
 */
export const PLAN_NODE_STATES = ['Pending', 'InFlight', 'Succeeded', 'Cancelled', 'Failed', 'Skipped'] as const;
export type PlanNodeState = (typeof PLAN_NODE_STATES)[number];
type Summary = NonNullable<LiveUpdatePlanStatus['summary']>;

/**
 * Failure reasons the operator marks nodes with (its own and the agent's fixed list) whose series exist from the
 * start at 0: `increase()` over a series born at 1 is 0, so an alert would miss the first failure of a process.
 */
export const KNOWN_FAILURE_REASONS: readonly string[] = [
  // The operator's (planner/node-flow.ts).
  'PrepareTimeout', 'PrepareFailed', 'CancelledByAgent', 'ExecuteFailed', 'NodeLost', 'VerifyTimeout', 'FinishFailed',
  'FinishTimeout', 'NodeNotReady', 'CancelTimeout', 'OutsideWindow',
  // The agent's (agent/actions.ts FailureReason), reported in its status and copied into the mark.
  'NoLUO', 'IncompatibleKernel', 'DeviceNotReady', 'NotPreservable', 'ImageInvalid', 'KexecLoadFailed', 'KexecRefused',
  'KexecInterrupted', 'ColdRebooted', 'WrongKernel', 'NoHandover', 'DMALost', 'DriverChanged', 'JournalCorrupt',
  'HelperLost', 'LuoBusy', 'StateDirNotDurable', 'JournalWriteFailed',
];

/**
 * The partition of a plan's nodes from its status summary and the nodes' marks: the summary's `failed` also holds
 * cancellations charged to the failure budget, so Failed comes from the marks and the rest of `failed` is Cancelled.
 */
export function planNodeStates(summary: Summary, views: readonly NodeView[], planUid: string): Record<PlanNodeState, number> {
  const failed = Math.min(summary.failed, views.filter((v) => v.record?.mark?.planUid === planUid && v.record.mark.phase === 'Failed').length);
  return {
    Pending: summary.pending,
    InFlight: summary.inFlight,
    Succeeded: summary.succeeded,
    Cancelled: summary.cancelled + summary.failed - failed,
    Failed: failed,
    Skipped: summary.skipped,
  };
}

export class RolloutMetrics {
  private readonly planPhase: Gauge<'plan' | 'phase'>;
  private readonly planNodes: Gauge<'plan' | 'phase'>;
  private readonly nodeUpdate: Histogram<'plan'>;
  private readonly handoff: Histogram<'plan'>;
  private readonly failures: Counter<'reason'>;
  private readonly planPass: Histogram<'plan'>;
  /** When each plan's last node succeeded, for the handoff to the next Prepare (in memory: a metric, not state). */
  private readonly lastSucceededAt = new Map<string, number>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.planPhase = new Gauge({ name: 'liveupdate_plan_phase', help: 'The phase of each plan (1 for the current one).', labelNames: ['plan', 'phase'], registers });
    this.planNodes = new Gauge({
      name: 'liveupdate_plan_nodes',
      help: `A plan's selected nodes by state (${PLAN_NODE_STATES.join(', ')}): each node in exactly one, Failed after the point of no return.`,
      labelNames: ['plan', 'phase'],
      registers,
    });
    this.nodeUpdate = new Histogram({
      name: 'liveupdate_node_update_seconds',
      help: 'From claiming a node to its success.',
      labelNames: ['plan'],
      buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
      registers,
    });
    this.handoff = new Histogram({
      name: 'liveupdate_handoff_seconds',
      help: 'From a node succeeding to the next node\'s Prepare being written.',
      labelNames: ['plan'],
      buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.planPass = new Histogram({
      name: 'liveupdate_plan_pass_seconds',
      help: 'One planning pass of a plan: node views from the caches and the pure planner (no API calls).',
      labelNames: ['plan'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.failures = new Counter({ name: 'liveupdate_failures_total', help: 'Nodes that failed or were cancelled because of a failure, by reason.', labelNames: ['reason'], registers });
    for (const reason of KNOWN_FAILURE_REASONS) this.failures.inc({ reason }, 0);
  }

  phase(plan: string, phase: string): void {
    for (const p of PlanPhase.options) this.planPhase.set({ plan, phase: p }, p === phase ? 1 : 0);
  }

  nodes(plan: string, states: Record<PlanNodeState, number>): void {
    for (const phase of PLAN_NODE_STATES) this.planNodes.set({ plan, phase }, states[phase]);
  }

  succeeded(plan: string, seconds: number, now: number): void {
    this.nodeUpdate.observe({ plan }, seconds);
    this.lastSucceededAt.set(plan, now);
  }

  prepareWritten(plan: string, now: number): void {
    const since = this.lastSucceededAt.get(plan);
    if (since === undefined) return;
    this.handoff.observe({ plan }, (now - since) / 1000);
    this.lastSucceededAt.delete(plan);
  }

  planned(plan: string, seconds: number): void {
    this.planPass.observe({ plan }, seconds);
  }

  failed(reason: string): void {
    this.failures.inc({ reason });
  }

  /** Every series of a deleted plan: a stale Failed count would keep its alert firing until the operator restarts. */
  forget(plan: string): void {
    for (const p of PlanPhase.options) this.planPhase.remove({ plan, phase: p });
    for (const phase of PLAN_NODE_STATES) this.planNodes.remove({ plan, phase });
    for (const histogram of [this.nodeUpdate, this.handoff, this.planPass]) histogram.remove({ plan });
    this.lastSucceededAt.delete(plan);
  }
}
