// What the pure planner sees and decides. The operator re-derives all of it from the API on every pass (DESIGN §8):
// the plan, each selected Node, its LiveUpdateNode (spec = our request, status = the agent's report) and our own
// per-node mark on that LiveUpdateNode. Nothing here does I/O or reads a clock.
import type { AgentPhase, LiveUpdateNodeStatus } from '../api/node';
import type { LiveUpdatePlan, LiveUpdatePlanStatus, NodeRolloutPhase } from '../api/plan';

/** Annotation on a LiveUpdateNode: the operator's progress for one plan on that node (RolloutMark as JSON). */
export const ROLLOUT_ANNOTATION = 'liveupdate.dev/rollout';
/** Annotation on a LiveUpdateNode: when the current plan claimed it (for liveupdate_node_update_seconds). */
export const CLAIMED_AT_ANNOTATION = 'liveupdate.dev/claimed-at';
/** Annotation on a core Node: `<plan name>/<plan uid>` of the plan that cordoned it. Only that plan uncordons it. */
export const CORDONED_BY_ANNOTATION = 'liveupdate.dev/cordoned-by';
/** The plan's finalizer: deletion drives every node to a safe end first. */
export const PLAN_FINALIZER = 'liveupdate.dev/rollout';

/**
 * The operator's phases for a node it works on (DESIGN §4). Stored in the RolloutMark; Prepared / Rebooted /
 * Verifying are shown from the agent's report while the stored phase is Preparing / Executing.
 */
export type StoredPhase =
  | 'Preparing' //     claimed (after our cordon) with Prepare requested in one write; waiting for the agent's Prepared
  | 'Executing' //     Execute requested (after Prepared for this attempt); the point of no return is the agent's
  | 'Finishing' //     Finish requested after Verified
  | 'Soaking' //       finished, uncordoned, waiting nodeSoak
  | 'Cancelling' //    Cancel requested before the point of no return
  | 'Succeeded'
  | 'Cancelled'
  | 'Failed';

export const TERMINAL: ReadonlySet<StoredPhase> = new Set(['Succeeded', 'Cancelled', 'Failed']);

export interface RolloutMark {
  planUid: string;
  attempt: number;
  phase: StoredPhase;
  /** When this phase began (RFC 3339): timeouts and soak count from here. */
  since: string;
  /** Why the node ended Cancelled / Failed (fixed reasons: agent reasons, PrepareTimeout, NodeLost, Aborted…). */
  reason?: string;
  message?: string;
  /** True when the node counts against the failure budget (a Cancelled node may be a failure or an abort). */
  failure?: boolean;
  /** We set spec.unschedulable (the Node carries our cordon mark); false when it was already unschedulable. */
  cordoned?: boolean;
  /** The agent's boot id when Execute was requested: a KexecRefused from that same boot left the old kernel running. */
  bootID?: string;
  /** A Failed node given back by a human (`kubectl liveupdate release`, or an uncordon): claim and cordon mark gone, the failure kept. */
  released?: { by: string; at: string };
}

/** One candidate node as the planner sees it: the core Node and its LiveUpdateNode, already read from caches. */
export interface NodeView {
  name: string;
  labels: Record<string, string>;
  /** The Node's Ready condition is True. */
  ready: boolean;
  unschedulable: boolean;
  /** CORDONED_BY_ANNOTATION's plan uid, if any. */
  cordonedBy?: string;
  /** The kubelet's boot id (status.nodeInfo.bootID): an agent report for another boot is stale. */
  bootID?: string;
  record?: NodeRecordView;
  /** The LiveUpdateNode (or our mark on it) exists but cannot be read: why, naming the object and the field. */
  recordError?: string;
}

export interface NodeRecordView {
  /** For resourceVersion-guarded claims. */
  resourceVersion: string;
  claim?: { planName: string; planUid: string };
  attempt: number;
  action: 'None' | 'Prepare' | 'Execute' | 'Finish' | 'Cancel';
  /** Our mark for the plan that claims (or last claimed) the node. */
  mark?: RolloutMark;
  status?: LiveUpdateNodeStatus;
}

/** What the executor must write, in order. Every write is idempotent and keyed by (plan uid, node, attempt). */
export type NodeAction =
  /**
   * Take the node and ask for Prepare in one write, under a resourceVersion precondition: spec.planRef + attempt +
   * target + preserve (the matching BDFs) + action Prepare, and `mark` (Preparing). Comes after our cordon.
   */
  | { kind: 'claim'; node: string; attempt: number; preserve: string[]; mark: RolloutMark }
  /**
   * Mark the Node cordoned-by this plan and set unschedulable, in one resourceVersion-guarded patch, before the claim:
   * two plans racing for a node collide on the Node's resourceVersion. A claim lost after it leaves our cordon mark on
   * a node we do not claim, which the next pass claims or lifts.
   */
  | { kind: 'cordon'; node: string }
  /** Write spec.action (Execute with its deadline, spec.executeBy) and the new mark in one patch (Prepare comes with the claim). */
  | { kind: 'request'; node: string; action: 'Execute' | 'Finish' | 'Cancel'; mark: RolloutMark; executeBy?: string }
  /**
   * Update only the mark (e.g. Failed after the point of no return); `release` also drops the claim in the same patch,
   * `withdraw` only the action (a Failed node stays claimed for a human, but no agent may act on its Execute later).
   */
  | { kind: 'mark'; node: string; mark: RolloutMark; release?: true; withdraw?: true }
  /** Clear our cordon mark and unschedulable (only if the Node carries our mark), then mark `then` (and release), if given. */
  | { kind: 'uncordon'; node: string; then?: RolloutMark; release?: true }
  /** Drop spec.planRef and the action (the mark stays as the record of what happened). */
  | { kind: 'release'; node: string };

export interface PlanEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  action: string;
  note: string;
  /** A node the event is about (also emitted on that Node). */
  node?: string;
}

export interface PlannerInput {
  plan: LiveUpdatePlan;
  /** Every Node in the cluster that the plan's selector could consider, with its LiveUpdateNode. */
  nodes: NodeView[];
  now: Date;
  /** The plan is being deleted: finish safely, release, then the finalizer can go. */
  deleting: boolean;
  /** What makes the spec unable to run (validatePlan): no node starts, nodes in flight go on. */
  problems?: readonly { field: string; message: string }[];
}

export interface PlannerOutput {
  actions: NodeAction[];
  status: LiveUpdatePlanStatus;
  events: PlanEvent[];
  /** Come back by then even if nothing changes (timeouts, soak, pauses, the next window). */
  requeueAfterMs?: number;
  /** Deleting and every node is at a safe end with its claim released: remove the finalizer. */
  finalizable: boolean;
}

export type { AgentPhase, NodeRolloutPhase };
