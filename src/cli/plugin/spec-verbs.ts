// pause, resume, approve, abort: each one merge patch of the plan's spec, which the operator consumes and reports in
// status (phase, conditions, pauseReasons). Status is the operator's alone: the plugin never writes it.
import { createInterface } from 'node:readline/promises';
import type { LiveUpdatePlan } from '../../api/plan';
import { pendingApproval } from '../../demo/plan';
import { UsageError } from '../usage';
import { withCluster, type KubeFlags } from './kube';

export interface SpecVerbOptions extends KubeFlags {
  plan: string;
  step?: string;
  note?: string;
  yes?: boolean;
}

const follow = (name: string) => `kubectl liveupdate status ${name} --watch follows it`;

function say(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

export async function pause(options: SpecVerbOptions): Promise<number> {
  return withCluster(options, async (api) => {
    let already = false;
    await api.patchSpec(options.plan, (plan) => (plan.spec.strategy.paused ? void (already = true) : { strategy: { paused: true } }));
    if (already) return say(`plan ${options.plan} is already paused (spec.strategy.paused: true); kubectl liveupdate resume ${options.plan} resumes it`);
    return say(`plan ${options.plan} paused (spec.strategy.paused: true): no new node starts, nodes in flight finish their update; ${follow(options.plan)}`);
  });
}

export async function resume(options: SpecVerbOptions): Promise<number> {
  return withCluster(options, async (api) => {
    let already = false;
    const plan = await api.patchSpec(options.plan, (p) => (p.spec.strategy.paused ? { strategy: { paused: false } } : void (already = true)));
    const waiting = pendingApproval(plan);
    const hint = waiting === undefined ? '' : `; step ${waiting} still waits for approval: kubectl liveupdate approve ${options.plan}`;
    if (already) return say(`plan ${options.plan} is not paused by spec (spec.strategy.paused is false)${hint}`);
    return say(`plan ${options.plan} resumed (spec.strategy.paused: false)${hint}; ${follow(options.plan)}`);
  });
}

/**
 * The step to approve: --step, else the one whose pause the plan waits in. A step without a pause that waits for
 * approval, or no waiting pause at all, is refused naming what there is to approve.
 */
function stepToApprove(plan: LiveUpdatePlan, flag: string | undefined): number {
  const name = plan.metadata.name ?? '';
  const steps = plan.spec.strategy.steps;
  const withPause = steps.flatMap((s, i) => (s.pause && !s.pause.duration ? [i] : []));
  if (flag === undefined) {
    const waiting = pendingApproval(plan);
    if (waiting !== undefined) return waiting;
    const last = plan.spec.approvals.at(-1);
    const ahead = withPause.filter((i) => !plan.spec.approvals.some((a) => a.step === i));
    throw new Error(
      `plan ${name} is not waiting for an approval (phase ${plan.status?.phase ?? 'Pending'}${last ? `; last approval: step ${last.step} by ${last.by}` : ''})` +
        (ahead.length > 0 ? `; to approve a later pause ahead of time: --step ${ahead.join(' or --step ')}` : '; no pause is left to approve'),
    );
  }
  if (!/^\d+$/.test(flag)) throw new UsageError(`--step must be a step index (0 = the canary), got "${flag}"`);
  const step = Number(flag);
  if (!withPause.includes(step))
    throw new Error(
      `plan ${name}: step ${step} has no pause that waits for approval (steps: ${steps.length}; ` +
        `${withPause.length > 0 ? `steps waiting for approval: ${withPause.join(', ')}` : 'none waits for approval'})`,
    );
  return step;
}

export async function approve(options: SpecVerbOptions): Promise<number> {
  return withCluster(options, async (api) => {
    let step = -1;
    let already: string | undefined;
    const plan = await api.patchSpec(options.plan, (plan) => {
      step = stepToApprove(plan, options.step);
      const earlier = plan.spec.approvals.find((a) => a.step === step);
      if (earlier) return void (already = `${earlier.by} at ${earlier.at}`);
      // A merge patch replaces the whole list: the existing approvals first, unchanged (the CEL rule checks that).
      const approval = { step, by: api.user, at: new Date().toISOString(), ...(options.note ? { note: options.note } : {}) };
      return { approvals: [...plan.spec.approvals, approval] };
    });
    if (already) return say(`step ${step} of plan ${options.plan} is already approved (by ${already})`);
    const next = plan.spec.strategy.paused ? `the rollout continues once resumed (spec.strategy.paused is true): kubectl liveupdate resume ${options.plan}` : `the rollout continues: ${follow(options.plan)}`;
    return say(`approved step ${step} of plan ${options.plan} as ${api.user} (appended to spec.approvals); ${next}`);
  });
}

/** Asks on the terminal; true only for y or yes. */
export async function confirmed(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export async function abort(options: SpecVerbOptions): Promise<number> {
  return withCluster(options, async (api) => {
    const plan = await api.plan(options.plan);
    if (plan.spec.abort) return say(`plan ${options.plan} is already aborted (phase ${plan.status?.phase ?? 'Pending'})`);
    if (!options.yes) {
      if (!process.stdin.isTTY) throw new UsageError(`abort ${options.plan}: not confirmed; without a terminal to ask on, pass --yes to abort`);
      const inFlight = plan.status?.currentNodes ?? [];
      const question =
        `Abort plan ${options.plan} (phase ${plan.status?.phase ?? 'Pending'}${inFlight.length > 0 ? `, in flight: ${inFlight.join(', ')}` : ''})? ` +
        'Nodes before the point of no return are cancelled, nodes already executing finish, and the plan never starts a node again. [y/N] ';
      if (!(await confirmed(question))) {
        process.stderr.write(`plan ${options.plan} not aborted\n`);
        return 1;
      }
    }
    await api.patchSpec(options.plan, (p) => (p.spec.abort ? undefined : { abort: true }));
    return say(`plan ${options.plan} aborting (spec.abort: true): nodes before the point of no return are cancelled and uncordoned; ${follow(options.plan)}`);
  });
}
