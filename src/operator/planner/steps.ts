// Canary steps and the pauses between them (Argo Rollouts' canary steps, with cumulative node counts).
import { durationMs } from '../../api/duration';
import type { LiveUpdatePlanSpec, LiveUpdatePlanStatus } from '../../api/plan';

export interface StepProgress {
  succeeded: number;
  inFlight: number;
  /** Nodes of this plan that ended without succeeding: a step's target shrinks to what is still reachable. */
  lost: number;
}

export interface StepPause {
  step: number;
  since: string;
  /** Epoch ms a timed pause ends; none for a pause waiting for approval. */
  until?: number;
}

export interface StepState {
  /** The step nodes are being started for (the one after the pause while paused). */
  current: number;
  /** Steps whose target has been reached by succeeded nodes. */
  completed: number;
  /** Starts may take succeeded + in flight up to this many nodes. */
  startLimit: number;
  pause?: StepPause;
}

/**
 * A step ends when succeeded nodes reach its target: starts are capped at the target, so by then every node started
 * for it is terminal. Its pause then begins (kept from status.pause when already running for that step) and ends at
 * since + duration, or, without a duration, once spec.approvals holds that step. A pause is behind us once nodes beyond
 * its step were started, or once a previous pass moved past it (status.currentStep beyond it, no pause recorded).
 */
export function stepState(spec: LiveUpdatePlanSpec, targets: readonly number[], progress: StepProgress, previous: LiveUpdatePlanStatus | undefined, now: Date): StepState {
  const { succeeded, inFlight, lost } = progress;
  const reachable = targets.at(-1)! - lost;
  const target = (i: number) => Math.min(targets[i]!, reachable);
  let completed = 0;
  while (completed < targets.length && succeeded >= target(completed)) completed++;

  // Every completed step but the last may hold the rollout in its pause.
  for (let i = 0; i < Math.min(completed, targets.length - 1); i++) {
    const pause = spec.strategy.steps[i]?.pause;
    const behind = succeeded + inFlight > target(i) || ((previous?.currentStep ?? 0) > i && previous?.pause?.step !== i);
    if (!pause || behind) continue;
    const since = previous?.pause?.step === i ? previous.pause.since : now.toISOString();
    if (pause.duration) {
      const until = Date.parse(since) + durationMs(pause.duration);
      if (now.getTime() < until) return { current: i + 1, completed, startLimit: target(i), pause: { step: i, since, until } };
    } else if (!spec.approvals.some((a) => a.step === i)) {
      return { current: i + 1, completed, startLimit: target(i), pause: { step: i, since } };
    }
  }
  const current = Math.min(completed, targets.length - 1);
  return { current, completed, startLimit: target(current) };
}
