// int-or-percent fields resolved against the plan's node count (apimachinery's GetScaledValueFromIntOrPercent).
import type { LiveUpdatePlanSpec } from '../../api/plan';

/** An int as is; "p%" as ceil or floor of p × total / 100. The schema already rejected anything else. */
export function scaled(value: number | string, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const exact = (Number(value.slice(0, -1)) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

export interface Budgets {
  maxInFlight: number;
  maxUnavailable: number;
  maxFailedNodes: number;
  /**
   * Cumulative nodes done when each step ends, never decreasing; index i is spec.strategy.steps[i], and an implicit
   * last step (every node, no pause) follows when the spec's steps stop short.
   */
  stepTargets: number[];
}

/**
 * maxInFlight rounds up (like Cluster API's remediation maxInFlight), maxUnavailable down (like a Deployment), both at
 * least 1: nodes cannot surge, so 0 would deadlock. maxFailedNodes rounds down and may be 0 (MachineHealthCheck).
 * Steps round up, are capped at the node count, never shrink (a lower later percentage keeps the earlier count),
 * and are followed by an implicit 100% step when the last one stops short (Argo promotes fully after its steps).
 */
export function resolveBudgets(spec: LiveUpdatePlanSpec, nodes: number): Budgets {
  const { strategy, failurePolicy } = spec;
  const stepTargets: number[] = [];
  for (const step of strategy.steps) stepTargets.push(Math.min(nodes, Math.max(stepTargets.at(-1) ?? 0, scaled(step.nodes, nodes, true))));
  if (stepTargets.length === 0 || stepTargets.at(-1)! < nodes) stepTargets.push(nodes);
  return {
    maxInFlight: Math.max(1, scaled(strategy.maxInFlight, nodes, true)),
    maxUnavailable: Math.max(1, scaled(strategy.maxUnavailable, nodes, false)),
    maxFailedNodes: scaled(failurePolicy.maxFailedNodes, nodes, false),
    stepTargets,
  };
}
