// A Failed node is kept cordoned and claimed for a human. A human who lifts the cordon (kubectl uncordon) gives the
// node back: the plan then drops its cordon mark and its claim, keeping the failure on record (`released`), so no
// later plan finds the node ClaimedByOtherPlan.
import type { NodeAction, NodeView, PlanEvent, RolloutMark } from '../model';

/** Someone uncordoned a node this plan cordoned and failed, and it is not released yet. */
export const uncordonedByHuman = (node: NodeView, mark: RolloutMark): boolean =>
  mark.phase === 'Failed' && mark.cordoned === true && mark.released === undefined && !node.unschedulable;

export function releaseUncordoned(node: NodeView, mark: RolloutMark, at: string): { actions: NodeAction[]; events: PlanEvent[] } {
  const then: RolloutMark = { ...mark, released: { by: 'uncordon', at } };
  return {
    actions: [{ kind: 'uncordon', node: node.name, then, release: true }],
    events: [
      {
        type: 'Normal',
        reason: 'NodeReleased',
        action: 'Release',
        note: `node ${node.name}, failed (${mark.reason ?? 'Failed'}), was uncordoned by someone: the plan lets go of it (claim and cordon mark dropped)`,
        node: node.name,
      },
    ],
  };
}
