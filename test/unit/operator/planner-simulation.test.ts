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

type Status = NonNullable<NonNullable<NodeView['record']>['status']>;

/** What the model agent has on disk: the attempt it works on and where it is (the real agent's journal, DESIGN §8). */
interface ModelJournal {
  planUid: string;
  attempt: number;
  phase: 'Preparing' | 'Prepared' | 'Executing' | 'Verified' | 'Finished' | 'Cancelled' | 'Failed';
}

interface ModelNode {
  sim: SimNode;
  view: NodeView;
  boots: number;
  journal?: ModelJournal;
  /** A prepare under way (not atomic: the spec may change while it runs): the tick it ends at. */
  preparingUntil?: number;
  /** The request the agent waits to answer (Execute, Finish, Cancel), and the tick it answers at. */
  work?: { key: string; due: number };
  /** What the agent published, and the tick each write reaches the operator's cache. */
  published: { at: number; status: Status }[];
  /** Rebooting into the target: the tick the node comes back (never, for neverReturns). */
  returnsAt?: number;
  /** spec.executeBy, as the executor wrote it. */
  executeBy?: string;
}

const ACTIVE: ReadonlySet<ModelJournal['phase']> = new Set(['Preparing', 'Prepared']);

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
      this.nodes.set(n.name, { sim: n, view, boots: 0, published: [] });
    }
    this.initiallyUnavailable = new Set(fleet.filter((n) => !n.ready || n.unschedulable).map((n) => n.name));
  }

  input(): PlannerInput {
    return { plan: structuredClone(this.plan), nodes: [...this.nodes.values()].map((n) => structuredClone(n.view)), now: new Date(this.now), deleting: this.deleting };
  }

  /** The executor: applies actions in order with its guards (claim needs no claim, uncordon needs our cordon mark). */
  apply(actions: NodeAction[]): void {
    for (const a of actions) {
      const model = this.nodes.get(a.node)!;
      const { view } = model;
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
          if (a.executeBy) model.executeBy = a.executeBy;
          else delete model.executeBy;
          record.mark = carry(a.mark);
          break;
        case 'mark':
          record.mark = carry(a.mark);
          if (a.release) release();
          if (a.withdraw) record.action = 'None';
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

  /**
   * Model agents, as the real one behaves (agent/decide.ts): a prepare takes `delay` ticks and runs to its end whatever
   * the spec says meanwhile; the new key is published first; an attempt the spec no longer names is cancelled; what an
   * agent publishes reaches the operator `lag` ticks later. Execute, Finish and Cancel are answered after `delay`.
   */
  agents(): void {
    for (const node of this.nodes.values()) {
      const { view, sim } = node;
      const record = view.record;
      if (!record?.status) continue;
      this.deliver(node);
      if (node.returnsAt !== undefined && this.tick >= node.returnsAt) this.reboot(node);
      if (sim.behaviour.fault === 'silent' || node.returnsAt !== undefined) continue;
      const j = node.journal;
      if (node.preparingUntil !== undefined) {
        if (this.tick < node.preparingUntil) continue;
        delete node.preparingUntil;
        if (sim.behaviour.fault === 'prepareFails') this.report(node, { ...j!, phase: 'Failed' }, 'PrepareFailed');
        else this.report(node, { ...j!, phase: 'Prepared' });
        continue;
      }
      const request = record.claim && record.action !== 'None' ? { planUid: record.claim.planUid, attempt: record.attempt, action: record.action } : undefined;
      const same = j !== undefined && request !== undefined && j.planUid === request.planUid && j.attempt === request.attempt;
      if (j && ACTIVE.has(j.phase) && !same) {
        this.report(node, { ...j, phase: 'Cancelled' }, 'Withdrawn');
        continue;
      }
      if (!request) continue;
      if (request.action === 'Prepare') {
        if (same || (j && !['Cancelled', 'Failed', 'Finished'].includes(j.phase))) continue;
        this.report(node, { planUid: request.planUid, attempt: request.attempt, phase: 'Preparing' });
        node.preparingUntil = this.tick + sim.behaviour.delay;
        continue;
      }
      const key = `${request.planUid}/${request.attempt}/${request.action}`;
      if (node.work?.key !== key) node.work = { key, due: this.tick + sim.behaviour.delay };
      if (this.tick < node.work.due) continue;
      this.act(node, request.action, request.planUid, request.attempt, same);
    }
  }

  private act(node: ModelNode, action: 'Execute' | 'Finish' | 'Cancel', planUid: string, attempt: number, same: boolean): void {
    const j = node.journal;
    const fault = node.sim.behaviour.fault;
    switch (action) {
      case 'Execute': {
        // The agent's own guard: kexec only from Prepared for this very attempt, and before spec.executeBy.
        if (!same || j!.phase !== 'Prepared') return;
        const { executeBy } = node;
        if (executeBy !== undefined && this.now > Date.parse(executeBy)) return this.report(node, { ...j!, phase: 'Cancelled' }, 'ExecuteExpired');
        const kexecIssuedAt = new Date(this.now).toISOString();
        if (fault === 'kexecRefused') return this.report(node, { ...j!, phase: 'Failed' }, 'KexecRefused', kexecIssuedAt);
        this.report(node, { ...j!, phase: 'Executing' }, undefined, kexecIssuedAt);
        node.view.ready = false;
        node.returnsAt = fault === 'neverReturns' ? Number.POSITIVE_INFINITY : this.tick + node.sim.behaviour.delay + 1;
        return;
      }
      case 'Finish':
        if (same && j!.phase === 'Verified') this.report(node, { ...j!, phase: fault === 'finishFails' ? 'Failed' : 'Finished' }, fault === 'finishFails' ? 'FinishFailed' : undefined);
        return;
      case 'Cancel':
        // A key never started is answered Cancelled too: the operator's positive evidence that nothing is left.
        if (!same) return this.report(node, { planUid, attempt, phase: 'Cancelled' });
        if (ACTIVE.has(j!.phase)) this.report(node, { ...j!, phase: 'Cancelled' });
        return;
    }
  }

  /** Journals `next` and publishes the status for it (seen by the operator `lag` ticks later). */
  private report(node: ModelNode, next: ModelJournal, error?: string, kexecIssuedAt?: string): void {
    const carried = node.journal?.planUid === next.planUid && node.journal.attempt === next.attempt ? node.published.at(-1)?.status.kexecIssuedAt : undefined;
    node.journal = next;
    const phase = next.phase === 'Preparing' ? 'Preflight' : next.phase;
    const base = node.published.at(-1)?.status ?? node.view.record!.status!;
    const status: Status = { ...structuredClone(base), phase, observedPlanUID: next.planUid, observedAttempt: next.attempt };
    delete status.lastError;
    delete status.kexecIssuedAt;
    const issued = kexecIssuedAt ?? carried;
    if (issued) status.kexecIssuedAt = issued;
    if (error) status.lastError = { reason: error, message: `simulated ${error}` };
    node.published.push({ at: this.tick + node.sim.behaviour.lag, status });
    this.deliver(node);
  }

  private deliver(node: ModelNode): void {
    while (node.published.length > 0 && node.published[0]!.at <= this.tick) node.view.record!.status = node.published.shift()!.status;
  }

  private reboot(node: ModelNode): void {
    delete node.returnsAt;
    const bootID = `${node.sim.name}-boot-${++node.boots}`;
    Object.assign(node.view, { bootID, ready: true });
    const base = node.published.at(-1)?.status ?? node.view.record!.status!;
    node.published.push({ at: this.tick + node.sim.behaviour.lag, status: { ...structuredClone(base), bootID, kernelRelease: TARGET } });
    if (node.sim.behaviour.fault === 'dmaLost') this.report(node, { ...node.journal!, phase: 'Failed' }, 'DMALost');
    else this.report(node, { ...node.journal!, phase: 'Verified' });
  }

  /** Nodes the operator has let go of (ended, released) while their agent still holds that very attempt prepared. */
  wedged(): string[] {
    return [...this.nodes.values()]
      .filter((n) => {
        const mark = n.view.record?.mark;
        const j = n.journal;
        return mark?.planUid === PLAN_UID && TERMINAL.has(mark.phase) && mark.phase !== 'Failed' && j?.planUid === PLAN_UID && j.attempt === mark.attempt && ACTIVE.has(j.phase);
      })
      .map((n) => n.sim.name);
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
      assert.ok(windowState(spec.strategy.windows, input.now).open, `Execute on ${a.node} outside a window at ${input.now.toISOString()}`);
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
    if (check) assert.deepEqual(world.wedged(), [], 'the operator let go of a node whose agent holds that attempt prepared');
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
