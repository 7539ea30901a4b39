// Applies the planner's node actions to the API, in order. Each write is idempotent; claims and cordons carry a
// resourceVersion precondition, so a race with another plan, a human or a stale cache ends in 409, never in a
// double claim or in uncordoning a node someone else cordoned. The first failed write stops the pass: the next
// reconcile re-plans from fresh state.
import type { KubeConfig } from '@kubernetes/client-node';
import type { CoreNode } from '../api/core-node';
import type { LiveUpdateNode } from '../api/node';
import type { LiveUpdatePlan } from '../api/plan';
import type { ClusterResource } from '../kube/cluster-resource';
import { patchNode } from '../kube/core-writes';
import { mergePatchBetween } from '../kube/status-writer';
import { CLAIMED_AT_ANNOTATION, CORDONED_BY_ANNOTATION, ROLLOUT_ANNOTATION, type NodeAction, type RolloutMark } from './model';
import { cordonMark, readMark, writeMark } from './views';

export interface ExecutorDeps {
  kc: KubeConfig;
  records: ClusterResource<LiveUpdateNode>;
  node(name: string): CoreNode | undefined;
  record(name: string): LiveUpdateNode | undefined;
  now(): Date;
}

/** The spec of a node no plan claims. */
const RELEASED = { planRef: null, action: 'None', executeBy: null };
/** A claimed node nothing more is asked of (Failed, kept for a human): no agent may act on an old request. */
const WITHDRAWN = { action: 'None', executeBy: null };

/** What a written object's resourceVersion became: the reconciler waits for its cache to catch up before planning again. */
export type Written = { kind: 'LiveUpdateNode' | 'Node' | 'LiveUpdatePlan'; name: string; resourceVersion: string };

export class Executor {
  constructor(private readonly deps: ExecutorDeps) {}

  /** Applies one action; returns what it wrote. Throws (409 included) to stop the pass. */
  async apply(plan: LiveUpdatePlan, action: NodeAction): Promise<Written[]> {
    const uid = plan.metadata.uid ?? '';
    const name = plan.metadata.name ?? '';
    switch (action.kind) {
      case 'claim': {
        const record = this.requireRecord(action.node);
        const { kernel: target, compatibleFrom } = plan.spec.target;
        // The claim is a new request, written whole: a merge patch of the fields alone would keep what an earlier
        // plan set and this one does not (its initrd). Diffed against the version the precondition names.
        const request = { planRef: { name, uid }, attempt: action.attempt, action: 'Prepare', target, compatibleFrom, preserve: action.preserve.map((bdf) => ({ bdf })) };
        const written = await this.deps.records.patch(
          action.node,
          {
            metadata: { annotations: { [ROLLOUT_ANNOTATION]: writeMark(action.mark), [CLAIMED_AT_ANNOTATION]: action.mark.since } },
            spec: mergePatchBetween(record.spec, request) ?? {},
          },
          { resourceVersion: record.metadata.resourceVersion },
        );
        return [this.written('LiveUpdateNode', written)];
      }
      case 'cordon': {
        const node = this.requireNode(action.node);
        // One patch sets the mark and the cordon together, guarded by the resourceVersion we decided on: a node
        // someone cordoned meanwhile makes it fail (409) instead of becoming "ours".
        const patched = await patchNode(
          this.deps.kc,
          action.node,
          { metadata: { annotations: { [CORDONED_BY_ANNOTATION]: cordonMark(name, uid) } }, spec: { unschedulable: true } },
          { resourceVersion: node.metadata.resourceVersion },
        );
        return [{ kind: 'Node', name: action.node, resourceVersion: patched.metadata?.resourceVersion ?? '' }];
      }
      case 'request': {
        const written = await this.deps.records.patch(action.node, {
          metadata: { annotations: { [ROLLOUT_ANNOTATION]: writeMark(this.carry(action.node, action.mark)) } },
          spec: { action: action.action, executeBy: action.executeBy ?? null },
        });
        return [this.written('LiveUpdateNode', written)];
      }
      case 'mark':
        return [await this.setMark(action.node, action.mark, action.release ? RELEASED : action.withdraw ? WITHDRAWN : undefined)];
      case 'uncordon': {
        const node = this.requireNode(action.node);
        const out: Written[] = [];
        // Only a node carrying this plan's mark is ours to uncordon; anything else stays as its owner left it.
        if (node.metadata.annotations?.[CORDONED_BY_ANNOTATION] === cordonMark(name, uid)) {
          const patched = await patchNode(
            this.deps.kc,
            action.node,
            { metadata: { annotations: { [CORDONED_BY_ANNOTATION]: null } }, spec: { unschedulable: false } },
            { resourceVersion: node.metadata.resourceVersion },
          );
          out.push({ kind: 'Node', name: action.node, resourceVersion: patched.metadata?.resourceVersion ?? '' });
        }
        if (action.then) out.push(await this.setMark(action.node, action.then, action.release ? RELEASED : undefined));
        return out;
      }
      case 'release': {
        const written = await this.deps.records.patch(action.node, { spec: RELEASED });
        return [this.written('LiveUpdateNode', written)];
      }
    }
  }

  /** The mark, and `spec` (the claim dropped, or the action withdrawn) in the same patch: one write where the mark ends the node's run. */
  private async setMark(node: string, mark: RolloutMark, spec?: typeof RELEASED | typeof WITHDRAWN): Promise<Written> {
    const annotations = { [ROLLOUT_ANNOTATION]: writeMark(this.carry(node, mark)) };
    const written = await this.deps.records.patch(node, spec ? { metadata: { annotations }, spec } : { metadata: { annotations } });
    return this.written('LiveUpdateNode', written);
  }

  /** Keeps what an earlier phase recorded and a later one must not lose (that we cordoned the node). */
  private carry(node: string, mark: RolloutMark): RolloutMark {
    const record = this.deps.record(node);
    const previous = record ? readMark(record) : undefined;
    if (previous && previous.planUid === mark.planUid && previous.cordoned && mark.cordoned === undefined) return { ...mark, cordoned: true };
    return mark;
  }

  private requireRecord(name: string): LiveUpdateNode {
    const record = this.deps.record(name);
    if (!record) throw new Error(`${name}: no LiveUpdateNode to claim`);
    return record;
  }

  private requireNode(name: string): CoreNode {
    const node = this.deps.node(name);
    if (!node) throw new Error(`Node ${name} is gone`);
    return node;
  }

  private written(kind: Written['kind'], object: { metadata: { name?: string; resourceVersion?: string } }): Written {
    return { kind, name: object.metadata.name ?? '', resourceVersion: object.metadata.resourceVersion ?? '' };
  }
}
