// Plan checks the apiserver cannot make: a plan with problems gets Ready=False, reason InvalidSpec, and nothing starts.
// Everything CEL can express lives in the schema (src/api), which parsePlan enforces too: label selector keys, values
// and operator/values combinations are already checked when a plan reaches this point.
import type { LiveUpdatePlan } from '../api/plan';
import { windowProblems, type WindowProblem } from './windows';

export type SpecProblem = WindowProblem;

type Step = LiveUpdatePlan['spec']['strategy']['steps'][number];

/**
 * Steps are cumulative, so a later step below an earlier one of the same kind is an error. Counts and percentages
 * only compare once resolved against the fleet: the planner handles that. A pause after the last step is allowed:
 * it only delays completion, which is no reason to refuse the whole plan.
 */
function stepProblems(steps: readonly Step[]): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const highest = new Map<'count' | 'percent', { index: number; value: number }>();
  steps.forEach((step, index) => {
    const kind = typeof step.nodes === 'number' ? 'count' : 'percent';
    const value = typeof step.nodes === 'number' ? step.nodes : Number.parseInt(step.nodes, 10);
    const before = highest.get(kind);
    if (before && value < before.value) {
      const shown = String(steps[before.index]!.nodes);
      problems.push({
        field: `spec.strategy.steps[${index}].nodes`,
        message: `steps are cumulative: steps[${index}].nodes (${step.nodes}) is below steps[${before.index}].nodes (${shown}): raise it to at least ${shown} or reorder the steps`,
      });
    } else {
      highest.set(kind, { index, value });
    }
  });
  return problems;
}

/** Problems naming the field, in spec order; empty when the plan may run. */
export function validatePlan(plan: LiveUpdatePlan): SpecProblem[] {
  return [...stepProblems(plan.spec.strategy.steps), ...windowProblems(plan.spec.strategy.windows)];
}
