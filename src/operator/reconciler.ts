// The LiveUpdatePlan reconciler: caches → NodeViews → the pure planner → the executor's writes → one status write.
// Level-triggered and stateless between passes: everything is re-derived from the API (DESIGN §8); the only memory
// is which writes the caches have not shown yet (expectations) and metric timers.
import type { CoreNode } from '../api/core-node';
import type { LiveUpdateNode } from '../api/node';
import type { LiveUpdatePlan, LiveUpdatePlanStatus } from '../api/plan';
import type { ClusterResource } from '../kube/cluster-resource';
import type { ReconcileContext, ReconcileResult } from '../kube/controller';
import type { EventRecorder } from '../kube/events';
import type { Informer } from '../kube/informer';
import { semanticEqual, writeStatusIfChanged } from '../kube/status-writer';
import { Executor, type Written } from './executor';
import { Expectations } from './expectations';
import { planNodeStates, type RolloutMetrics } from './metrics';
import { CLAIMED_AT_ANNOTATION, PLAN_FINALIZER, type NodeAction, type PlanEvent } from './model';
import { planRollout } from './planner';
import { validatePlan } from './validate';
import { forEachLimited } from '../util/limited';
import { nodeView, readMark } from './views';

export interface ReconcilerDeps {
  plans: Informer<LiveUpdatePlan>;
  nodes: Informer<CoreNode>;
  records: Informer<LiveUpdateNode>;
  planApi: ClusterResource<LiveUpdatePlan>;
  executor: Executor;
  events: EventRecorder;
  metrics: RolloutMetrics;
  now?: () => Date;
}

/** How soon to look again while the caches catch up with our own writes. */
const CACHE_WAIT_MS = 100;
/** Nodes whose writes one pass sends at once. */
const NODE_WRITE_CONCURRENCY = 10;
/** Dashboards see progress at most this late; phase, pause, failure and list changes are written at once. */
const PROGRESS_WRITE_INTERVAL_MS = 1000;

/** The status without what moves on every node transition. */
function withoutProgress(status: LiveUpdatePlanStatus | undefined): unknown {
  if (!status) return status;
  return { ...status, summary: undefined, progress: undefined, currentNodes: undefined, conditions: status.conditions?.map((c) => ({ ...c, message: '' })) };
}

export class PlanReconciler {
  private readonly expectations = new Expectations();
  /** When each plan's status was last written (a write rate limit, not state: a restart just writes at once). */
  private readonly statusWrittenAt = new Map<string, number>();
  private readonly now: () => Date;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Plans a LiveUpdateNode change concerns: the plan that claims it, and the plan its mark belongs to. */
  plansOfRecord(record: LiveUpdateNode): string[] {
    const names = new Set<string>();
    if (record.spec.planRef) names.add(record.spec.planRef.name);
    const mark = readMark(record);
    if (mark) for (const plan of this.deps.plans.list()) if (plan.metadata.uid === mark.planUid) names.add(plan.metadata.name ?? '');
    return [...names].filter(Boolean);
  }

  /** A Node change (Ready, cordon, labels) can change any plan's selection and budget. */
  allPlans(): string[] {
    return this.deps.plans.list().map((p) => p.metadata.name ?? '');
  }

  async reconcile(name: string, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    let plan = this.deps.plans.get(name);
    if (!plan) {
      this.expectations.forget(name);
      this.statusWrittenAt.delete(name);
      this.deps.metrics.forget(name);
      return;
    }
    if (!this.expectations.satisfied(name, (w) => this.cachedVersion(w))) return { requeueAfterMs: CACHE_WAIT_MS };
    const deleting = Boolean(plan.metadata.deletionTimestamp);
    const finalizers = (plan.metadata.finalizers as string[] | undefined) ?? [];
    if (deleting && !finalizers.includes(PLAN_FINALIZER)) return;
    if (!deleting && !finalizers.includes(PLAN_FINALIZER)) {
      // Before touching any node: a plan deleted from now on drives its nodes to a safe end first.
      await this.deps.planApi.patch(name, { metadata: { finalizers: [...finalizers, PLAN_FINALIZER] } }, { resourceVersion: plan.metadata.resourceVersion });
      ctx.log.info('finalizer added');
    }

    // A spec that cannot run stops new starts only (the planner): nodes in flight still advance, abort and timeouts hold.
    const problems = validatePlan(plan);
    const now = this.now();
    const passStart = performance.now();
    const views = this.deps.nodes.list().map((node) => {
      const name = node.metadata.name ?? '';
      return nodeView(node, this.deps.records.get(name), this.deps.records.problem(name));
    });
    const out = planRollout({ plan, nodes: views, now, deleting, problems });
    this.deps.metrics.planned(name, (performance.now() - passStart) / 1000);
    try {
      // Starts only once every other write of the pass is done: the slots they take were freed by those writes.
      const isStart = (a: NodeAction) => a.kind === 'cordon' || a.kind === 'claim';
      await this.applyByNode(plan, out.actions.filter((a) => !isStart(a)), now);
      const starts = out.actions.filter(isStart);
      if (starts.length > 0 && !plan.status?.startedAt) plan = await this.recordStart(plan, out.status.startedAt ?? now.toISOString());
      await this.applyByNode(plan, starts, now);
    } finally {
      for (const event of out.events) this.emit(plan, event);
    }
    const statusWait = await this.writeStatus(plan, out.status, now);
    this.deps.metrics.phase(name, out.status.phase ?? 'Pending');
    if (out.status.summary) this.deps.metrics.nodes(name, planNodeStates(out.status.summary, views, plan.metadata.uid ?? ''));
    if (deleting && out.finalizable) {
      await this.deps.planApi.patch(name, { metadata: { finalizers: finalizers.filter((f) => f !== PLAN_FINALIZER) } }, { resourceVersion: plan.metadata.resourceVersion });
      ctx.log.info('every node at a safe end and released: finalizer removed');
      return;
    }
    const requeue = Math.min(out.requeueAfterMs ?? Infinity, statusWait ?? Infinity);
    return requeue !== Infinity ? { requeueAfterMs: Math.max(requeue, 50) } : undefined;
  }

  /**
   * status.startedAt before the first cordon or claim: from then on the apiserver refuses edits of spec.target and
   * spec.strategy.mode (CEL), so every node of the plan gets the same request. The write is guarded by the
   * resourceVersion this pass planned from: a spec edited meanwhile fails it (409) and the next pass re-plans.
   */
  private async recordStart(plan: LiveUpdatePlan, startedAt: string): Promise<LiveUpdatePlan> {
    const name = plan.metadata.name ?? '';
    const written = await this.deps.planApi.patchStatus(name, { status: { startedAt } }, { resourceVersion: plan.metadata.resourceVersion });
    this.expectations.record(name, [{ kind: 'LiveUpdatePlan', name, resourceVersion: written.metadata.resourceVersion ?? '' }]);
    return written;
  }

  /**
   * Writes the status if it changed, but a change of progress alone (counts, current nodes, condition messages) at
   * most once per PROGRESS_WRITE_INTERVAL_MS: on a large fleet every node transition would otherwise be a plan write.
   * Returns how long until a held-back write is due.
   */
  private async writeStatus(plan: LiveUpdatePlan, status: LiveUpdatePlanStatus, now: Date): Promise<number | undefined> {
    const name = plan.metadata.name ?? '';
    const since = now.getTime() - (this.statusWrittenAt.get(name) ?? -Infinity);
    if (since < PROGRESS_WRITE_INTERVAL_MS && semanticEqual(withoutProgress(plan.status), withoutProgress(status)) && !semanticEqual(plan.status, status))
      return PROGRESS_WRITE_INTERVAL_MS - since;
    if (await writeStatusIfChanged(this.deps.planApi, plan, status)) this.statusWrittenAt.set(name, now.getTime());
    return undefined;
  }

  /**
   * Each node's actions in order, nodes side by side (up to NODE_WRITE_CONCURRENCY): a pass that ends one node and
   * starts others costs a couple of round trips, not one per write. A failed write stops that node's actions; the
   * pass then fails as a whole and the next one re-plans from fresh caches.
   */
  private async applyByNode(plan: LiveUpdatePlan, actions: readonly NodeAction[], now: Date): Promise<void> {
    const byNode = new Map<string, NodeAction[]>();
    for (const a of actions) {
      const group = byNode.get(a.node);
      if (group) group.push(a);
      else byNode.set(a.node, [a]);
    }
    const name = plan.metadata.name ?? '';
    await forEachLimited([...byNode.values()], NODE_WRITE_CONCURRENCY, async (group) => {
      for (const action of group) {
        this.expectations.record(name, await this.deps.executor.apply(plan, action));
        this.observe(plan, action, now);
      }
    });
  }

  private observe(plan: LiveUpdatePlan, action: NodeAction, now: Date): void {
    const name = plan.metadata.name ?? '';
    if (action.kind === 'claim') this.deps.metrics.prepareWritten(name, now.getTime());
    const mark = action.kind === 'mark' ? action.mark : action.kind === 'uncordon' ? action.then : undefined;
    if (!mark) return;
    if (mark.phase === 'Succeeded') {
      const claimed = this.deps.records.get(action.node)?.metadata.annotations?.[CLAIMED_AT_ANNOTATION];
      this.deps.metrics.succeeded(name, claimed ? (now.getTime() - Date.parse(claimed)) / 1000 : 0, now.getTime());
    }
    if ((mark.phase === 'Failed' || mark.phase === 'Cancelled') && mark.failure) this.deps.metrics.failed(mark.reason ?? 'Unknown');
  }

  private emit(plan: LiveUpdatePlan, event: PlanEvent): void {
    const { type, reason, action, note } = event;
    const regarding = { apiVersion: plan.apiVersion, kind: plan.kind, name: plan.metadata.name ?? '', uid: plan.metadata.uid };
    if (event.node) {
      // A node's milestones go on the Node (`kubectl describe node`), its warnings on the plan too: per-node Normal
      // events on the plan would be thousands of API writes for a large fleet and bury its own events.
      const related = { apiVersion: 'v1', kind: 'Node', name: event.node };
      if (type === 'Warning') this.deps.events.event(regarding, { type, reason, action, note, related });
      this.deps.events.event(related, { type, reason, action, note: `${plan.metadata.name ?? ''}: ${note}`, related: regarding });
    } else this.deps.events.event(regarding, { type, reason, action, note });
  }

  private cachedVersion(w: Written): string | undefined {
    const object = w.kind === 'Node' ? this.deps.nodes.get(w.name) : w.kind === 'LiveUpdatePlan' ? this.deps.plans.get(w.name) : this.deps.records.get(w.name);
    return object?.metadata.resourceVersion;
  }
}
