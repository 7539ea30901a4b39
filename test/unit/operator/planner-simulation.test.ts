// The planner against a model cluster: random fleets, plans, agent behaviours and clocks. Each tick the planner
// decides, a model executor applies its actions, and model agents answer requests (after delays, sometimes failing
// before or after the point of no return, sometimes never). Safety properties are checked on every tick.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { LiveUpdatePlan } from '../../../src/api/plan';
import { TERMINAL, type NodeAction, type NodeView, type PlannerInput, type PlannerOutput, type RolloutMark } from '../../../src/operator/model';
import { planRollout } from '../../../src/operator/planner';
import { resolveBudgets } from '../../../src/operator/planner/counts';
import { windowState } from '../../../src/operator/windows';
import { agentStatus, bridge, fleetArbitrary, gpu, makePlan, PLAN_UID, planArbitrary, TARGET, tickArbitrary, ZONE, type SimNode, type SimPlan } from '../../support/fleet-arbitrary';

interface ModelNode {
  sim: SimNode;
  view: NodeView;
  boots: number;
  /** The request the agent is working on, and the tick it answers at. */
  work?: { key: string; due: number };
  /** Request keys the agent has acted on (it acts on each once). */
  done: Set<string>;
  /** Rebooting into the target: the tick the node comes back (never, for neverReturns). */
  returnsAt?: number;
}

class World {
  tick = 0;
  now: number;
  plan: LiveUpdatePlan;
  deleting = false;
  readonly nodes = new Map<string, ModelNode>();
  readonly initiallyUnavailable: Set<string>;

  constructor(fleet: SimNode[], sim: SimPlan, start: Date) {
    this.now = start.getTime();
    this.plan = makePlan(sim.spec);
    for (const n of fleet) {
      const view: NodeView = { name: n.name, labels: n.zone ? { [ZONE]: n.zone } : {}, ready: n.ready, unschedulable: n.unschedulable, bootID: `${n.name}-boot-0` };
      if (n.agent)
        view.record = {
          resourceVersion: '1',
          attempt: 0,
          action: 'None',
          status: agentStatus({ kernelRelease: n.release, luo: { api: n.luo }, devices: n.hasGpu ? [bridge(), gpu()] : [bridge()] }, view.bootID),
        };
      this.nodes.set(n.name, { sim: n, view, boots: 0, done: new Set() });
    }
    this.initiallyUnavailable = new Set(fleet.filter((n) => !n.ready || n.unschedulable).map((n) => n.name));
  }

  input(): PlannerInput {
    return { plan: structuredClone(this.plan), nodes: [...this.nodes.values()].map((n) => structuredClone(n.view)), now: new Date(this.now), deleting: this.deleting };
  }

  /** The executor: applies actions in order with its guards (claim needs no claim, uncordon needs our cordon mark). */
  apply(actions: NodeAction[]): void {
    for (const a of actions) {
      const { view } = this.nodes.get(a.node)!;
      const record = view.record!;
      const release = () => {
        delete record.claim;
        record.action = 'None';
      };
      const carry = (mark: RolloutMark): RolloutMark => (record.mark?.planUid === mark.planUid && record.mark.cordoned && mark.cordoned === undefined ? { ...mark, cordoned: true } : mark);
      switch (a.kind) {
        case 'claim':
          if (record.claim) break;
          record.claim = { planName: 'plan-a', planUid: PLAN_UID };
          record.attempt = a.attempt;
          record.action = 'Prepare';
          record.mark = a.mark;
          break;
        case 'cordon':
          view.cordonedBy = PLAN_UID;
          view.unschedulable = true;
          break;
        case 'request':
          record.action = a.action;
          record.mark = carry(a.mark);
          break;
        case 'mark':
          record.mark = carry(a.mark);
          if (a.release) release();
          break;
        case 'uncordon':
          if (view.cordonedBy === PLAN_UID) {
            view.unschedulable = false;
            delete view.cordonedBy;
          }
          if (a.then) record.mark = carry(a.then);
          if (a.release) release();
          break;
        case 'release':
          release();
          break;
      }
    }
  }

  /** Model agents: act on each (plan uid, attempt, action) once, after their delay, with their fault. */
  agents(): void {
    for (const node of this.nodes.values()) {
      const { view, sim } = node;
      const record = view.record;
      if (!record?.status) continue;
      if (node.returnsAt !== undefined && this.tick >= node.returnsAt) this.reboot(node);
      if (!record.claim || record.action === 'None' || sim.behaviour.fault === 'silent') continue;
      const key = `${record.claim.planUid}/${record.attempt}/${record.action}`;
      if (node.done.has(key)) continue;
      if (node.work?.key !== key) node.work = { key, due: this.tick + sim.behaviour.delay };
      if (this.tick < node.work.due) continue;
      node.done.add(key);
      this.act(node, record.action, record.claim.planUid, record.attempt);
    }
  }

  private act(node: ModelNode, action: 'Prepare' | 'Execute' | 'Finish' | 'Cancel', planUid: string, attempt: number): void {
    const status = node.view.record!.status!;
    const ours = status.observedPlanUID === planUid && status.observedAttempt === attempt;
    const fault = node.sim.behaviour.fault;
    const at = new Date(this.now).toISOString();
    const report = (phase: NonNullable<typeof status.phase>, error?: string) => {
      Object.assign(status, { phase, observedPlanUID: planUid, observedAttempt: attempt });
      if (error) status.lastError = { reason: error, message: `simulated ${error}` };
    };
    switch (action) {
      case 'Prepare':
        if (ours) return;
        delete status.kexecIssuedAt;
        delete status.lastError;
        return fault === 'prepareFails' ? report('Failed', 'PrepareFailed') : report('Prepared');
      case 'Execute':
        // The agent's own guard: kexec only from Prepared for this very attempt.
        if (!ours || status.phase !== 'Prepared') return;
        if (fault === 'kexecRefused') return report('Failed', 'KexecRefused');
        status.kexecIssuedAt = at;
        report('Executing');
        node.view.ready = false;
        node.returnsAt = fault === 'neverReturns' ? Number.POSITIVE_INFINITY : this.tick + node.sim.behaviour.delay + 1;
        return;
      case 'Finish':
        if (ours && status.phase === 'Verified') return fault === 'finishFails' ? report('Failed', 'FinishFailed') : report('Finished');
        return;
      case 'Cancel':
        if (!ours || status.kexecIssuedAt || status.phase === 'Cancelled' || status.phase === 'Failed') return;
        return report('Cancelled', 'Cancelled');
    }
  }

  private reboot(node: ModelNode): void {
    delete node.returnsAt;
    const bootID = `${node.sim.name}-boot-${++node.boots}`;
    const status = node.view.record!.status!;
    Object.assign(node.view, { bootID, ready: true });
    Object.assign(status, { bootID, kernelRelease: TARGET });
    if (node.sim.behaviour.fault === 'dmaLost') {
      status.phase = 'Failed';
      status.lastError = { reason: 'DMALost', message: 'bus master clear on 0000:05:00.0' };
    } else status.phase = 'Verified';
  }

  ourMarks(): RolloutMark[] {
    return [...this.nodes.values()].flatMap((n) => (n.view.record?.mark?.planUid === PLAN_UID ? [n.view.record.mark] : []));
  }
}

/** Safety of one decision, judged against the input it was made from. */
function checkActions(input: PlannerInput, out: PlannerOutput): void {
  const byName = new Map(input.nodes.map((n) => [n.name, n]));
  const spec = input.plan.spec;
  for (const a of out.actions) {
    const node = byName.get(a.node)!;
    const mark = node.record?.mark;
    const status = node.record?.status;
    const answers = status?.observedPlanUID === PLAN_UID && status.observedAttempt === mark?.attempt;
    if (a.kind === 'claim') {
      assert.ok(windowState(spec.strategy.windows, input.now).open, `${a.node} started outside a window at ${input.now.toISOString()}`);
      assert.ok(!spec.abort && !input.deleting && !spec.strategy.paused, `${a.node} started while aborted, deleting or paused`);
    }
    if (a.kind === 'request' && a.action === 'Execute') {
      assert.ok(answers && status.phase === 'Prepared' && a.mark.attempt === mark!.attempt, `Execute on ${a.node} without Prepared for attempt ${mark?.attempt}`);
    }
    if (a.kind === 'request' && a.action === 'Cancel') assert.ok(!(answers && status.kexecIssuedAt), `Cancel on ${a.node} after kexecIssuedAt`);
    // Ours: our cordon mark on the Node, and either our mark says we cordoned or we hold no mark (a claim lost after the cordon).
    if (a.kind === 'uncordon') assert.ok(node.cordonedBy === PLAN_UID && (mark?.planUid !== PLAN_UID || mark.cordoned === true), `uncordon of ${a.node}, which we did not cordon`);
  }
}

function checkBudgets(world: World, eligible: number): void {
  const budgets = resolveBudgets(world.plan.spec, eligible);
  const inFlight = world.ourMarks().filter((m) => !TERMINAL.has(m.phase)).length;
  assert.ok(inFlight <= budgets.maxInFlight, `${inFlight} in flight > maxInFlight ${budgets.maxInFlight}`);
  const base = world.initiallyUnavailable.size;
  let ours = 0;
  for (const [name, n] of world.nodes) {
    const unavailable = !n.view.ready || n.view.unschedulable;
    if (unavailable && !world.initiallyUnavailable.has(name)) ours++;
    // Someone else's cordon stays.
    if (n.sim.unschedulable) assert.ok(n.view.unschedulable, `${name} was unschedulable before the plan and got uncordoned`);
  }
  assert.ok(base + ours <= Math.max(budgets.maxUnavailable, base), `${ours} nodes unavailable because of us on top of ${base}; maxUnavailable ${budgets.maxUnavailable}`);
}

/**
 * With `crashes`, every 3rd pass the operator dies partway through its writes and writes no status: right after its
 * first cordon if it cordons (the claim is lost), else halfway.
 */
function run(world: World, sim: SimPlan, ticks: number[], check: boolean, crashes = false): PlannerOutput | undefined {
  let out: PlannerOutput | undefined;
  let eligible: number | undefined;
  for (const step of ticks) {
    if (sim.abortAt !== undefined && world.tick === sim.abortAt) {
      if (sim.abortAt % 2 === 0) world.plan.spec.abort = true;
      else world.deleting = true;
    }
    const input = world.input();
    out = planRollout(input);
    eligible ??= out.status.summary?.eligible;
    if (check) {
      checkActions(input, out);
      assert.deepEqual(planRollout(structuredClone(input)), out, 'same input, same output');
    }
    const crash = crashes && world.tick % 3 === 1;
    const firstCordon = out.actions.findIndex((a) => a.kind === 'cordon');
    world.apply(crash ? out.actions.slice(0, firstCordon >= 0 ? firstCordon + 1 : Math.floor(out.actions.length / 2)) : out.actions);
    if (!crash) world.plan.status = out.status;
    if (world.deleting && out.finalizable && !crash) return out;
    if (check && eligible !== undefined) checkBudgets(world, eligible);
    // A human approves a waiting pause a few ticks later.
    const pause = out.status.pause;
    if (pause && world.tick % 4 === 3 && !world.plan.spec.approvals.some((a) => a.step === pause.step))
      world.plan.spec.approvals.push({ step: pause.step, by: 'sim', at: new Date(world.now).toISOString() });
    world.agents();
    world.tick++;
    world.now += step;
  }
  return out;
}

const start = fc.date({ min: new Date('2030-01-01T00:00:00Z'), max: new Date('2031-01-01T00:00:00Z'), noInvalidDate: true });

describe('planner simulation', () => {
  it('keeps every safety property with random fleets, plans, faults, aborts, clocks and operator crashes mid-pass', () => {
    fc.assert(
      fc.property(fleetArbitrary(false), planArbitrary(false), tickArbitrary, start, fc.boolean(), (fleet, sim, ticks, at, crashes) => {
        const world = new World(fleet, sim, at);
        const out = run(world, sim, ticks, true, crashes)!;
        // Whatever happened, a node we cordoned is uncordoned once it is back, unless it failed (a human's call).
        if (out.status.phase === 'Completed' || out.status.phase === 'Aborted' || out.finalizable)
          for (const n of world.nodes.values()) {
            const mark = n.view.record?.mark;
            if (n.view.cordonedBy === PLAN_UID) assert.ok(mark?.phase === 'Failed', `${n.sim.name} left cordoned in ${mark?.phase}`);
          }
      }),
      { numRuns: 150 },
    );
  });

  it('with well-behaved agents, no windows and no pauses every eligible node ends Succeeded', () => {
    fc.assert(
      fc.property(fleetArbitrary(true), planArbitrary(true), start, (fleet, sim, at) => {
        const world = new World(fleet, sim, at);
        // Per node at most ~12 passes (claim, cordon, prepare, execute, reboot, finish, uncordon, soak) one after another.
        const out = run(world, sim, Array<number>(fleet.length * 12 + 10).fill(30_000), false)!;
        assert.equal(out.status.phase, 'Completed', JSON.stringify(out.status.summary));
        assert.equal(out.status.summary?.succeeded, fleet.length);
        for (const n of world.nodes.values()) {
          assert.equal(n.view.unschedulable, false, `${n.sim.name} left cordoned`);
          assert.equal(n.view.record?.claim, undefined, `${n.sim.name} still claimed`);
        }
      }),
      { numRuns: 100 },
    );
  });
});
