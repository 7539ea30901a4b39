// The operator's own metrics (liveupdate_*), on the manager's registry next to the controller-runtime ones.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PlanPhase } from '../api/plan';

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
    this.planNodes = new Gauge({ name: 'liveupdate_plan_nodes', help: 'Nodes of a plan by phase.', labelNames: ['plan', 'phase'], registers });
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
  }

  phase(plan: string, phase: string): void {
    for (const p of PlanPhase.options) this.planPhase.set({ plan, phase: p }, p === phase ? 1 : 0);
  }

  nodes(plan: string, counts: Record<string, number>): void {
    for (const [phase, n] of Object.entries(counts)) this.planNodes.set({ plan, phase }, n);
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

  forget(plan: string): void {
    for (const p of PlanPhase.options) this.planPhase.remove({ plan, phase: p });
    this.planPass.remove({ plan });
    this.lastSucceededAt.delete(plan);
  }
}
