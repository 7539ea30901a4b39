// The plan's view of the fleet: the nodes it selected, split into the ones it works on, the ones it may start and
// the ones it skips (with the reason). Counts for budgets, steps and the status come from here.
import type { LiveUpdatePlanSpec } from '../../api/plan';
import type { Bdf } from '../../pci/types';
import { TERMINAL, type NodeView, type RolloutMark } from '../model';
import { eligibility, type SkipReason } from './eligibility';
import { byName } from './order';
import { selects } from './selector';

export interface Started {
  node: NodeView;
  mark: RolloutMark;
}

export interface Candidate {
  node: NodeView;
  preserve: Bdf[];
}

export interface Skipped {
  node: string;
  reason: SkipReason | 'RecordUnreadable';
  message: string;
}

export interface Fleet {
  /** Selected nodes plus any this plan works on whose labels no longer match (never dropped mid-update). */
  nodes: NodeView[];
  started: Started[];
  pending: Candidate[];
  skipped: Skipped[];
  counts: { inFlight: number; succeeded: number; failed: number; cancelled: number };
}

/** Counts against the failure budget: Failed, or Cancelled because of the node (not an abort or deletion). */
export const countsAsFailure = (m: RolloutMark): boolean => m.phase === 'Failed' || (m.phase === 'Cancelled' && m.failure === true);

const NOT_UNDER_WAY: ReadonlySet<string | undefined> = new Set([undefined, 'Idle', 'Cancelled']);

/**
 * Why a node this plan may be working on cannot be read as such: its LiveUpdateNode (or our mark on it) does not
 * parse, is gone while the Node carries our cordon, or lost our mark while its agent reports an attempt of this plan
 * under way or failed (deleted and recreated). Such a node is never uncordoned, released or re-claimed by the plan.
 */
export function lostRecord(node: NodeView, planUid: string): string | undefined {
  const { record } = node;
  if (record?.mark?.planUid === planUid) return undefined;
  const ours = node.cordonedBy === planUid || record?.claim?.planUid === planUid;
  if (!ours) return undefined;
  if (node.recordError) return `node ${node.name}: ${node.recordError}; it keeps its cordon until a human repairs the record`;
  if (!record) return `node ${node.name}: its LiveUpdateNode does not exist, but the Node carries this plan's cordon (deleted mid-update?); it keeps its cordon for a human`;
  const status = record.status;
  if (status?.observedPlanUID === planUid && !NOT_UNDER_WAY.has(status.phase))
    return `node ${node.name}: its LiveUpdateNode lost this plan's mark (deleted and recreated?) while its agent reports attempt ${status.observedAttempt ?? '?'} ${status.phase}; it keeps its cordon for a human`;
  return undefined;
}

/** A node the plan started (its mark for this plan) is never re-checked: it is in progress or done. */
export function classify(spec: LiveUpdatePlanSpec, planUid: string, all: readonly NodeView[]): Fleet {
  const fleet: Fleet = { nodes: [], started: [], pending: [], skipped: [], counts: { inFlight: 0, succeeded: 0, failed: 0, cancelled: 0 } };
  for (const node of [...all].sort((a, b) => byName(a.name, b.name))) {
    const mark = node.record?.mark?.planUid === planUid ? node.record.mark : undefined;
    const lost = lostRecord(node, planUid);
    if (!mark && !lost && !selects(spec.selector, node.name, node.labels)) continue;
    fleet.nodes.push(node);
    if (lost) {
      // In an unknown state: counted as failed (the plan neither completes nor takes it for pending) and named.
      fleet.counts.failed++;
      fleet.skipped.push({ node: node.name, reason: 'RecordUnreadable', message: lost.slice(0, 512) });
      continue;
    }
    if (mark) {
      fleet.started.push({ node, mark });
      const { counts } = fleet;
      if (!TERMINAL.has(mark.phase)) counts.inFlight++;
      else if (mark.phase === 'Succeeded') counts.succeeded++;
      else if (countsAsFailure(mark)) counts.failed++;
      else counts.cancelled++;
      continue;
    }
    const verdict = eligibility(node, spec, planUid);
    if (verdict.eligible) fleet.pending.push({ node, preserve: verdict.preserve });
    else fleet.skipped.push({ node: node.name, reason: verdict.reason, message: verdict.message });
  }
  const known = new Set(all.map((n) => n.name));
  for (const name of new Set(spec.selector.nodeNames ?? []))
    if (!known.has(name)) fleet.skipped.push({ node: name, reason: 'NodeNotFound', message: `selector.nodeNames lists ${name}, but there is no such Node` });
  return fleet;
}
