// From cached API objects to the planner's NodeView: the only place that knows where each fact lives.
import { z } from 'zod';
import { nodeIsReady, type CoreNode } from '../api/core-node';
import type { LiveUpdateNode } from '../api/node';
import { CORDONED_BY_ANNOTATION, ROLLOUT_ANNOTATION, type NodeView, type RolloutMark, type StoredPhase } from './model';

const STORED_PHASES = ['Preparing', 'Executing', 'Finishing', 'Soaking', 'Cancelling', 'Succeeded', 'Cancelled', 'Failed'] as const satisfies readonly StoredPhase[];

const RolloutMarkSchema = z.object({
  planUid: z.string().min(1),
  attempt: z.int().min(0),
  phase: z.enum(STORED_PHASES),
  since: z.iso.datetime({ offset: true }),
  reason: z.string().optional(),
  message: z.string().optional(),
  failure: z.boolean().optional(),
  cordoned: z.boolean().optional(),
  released: z.object({ by: z.string(), at: z.string() }).optional(),
}) satisfies z.ZodType<RolloutMark>;

/** Our mark on a LiveUpdateNode; one we cannot read is treated as absent (the claim and the agent's report remain). */
export function readMark(record: LiveUpdateNode): RolloutMark | undefined {
  const raw = record.metadata.annotations?.[ROLLOUT_ANNOTATION];
  if (!raw) return undefined;
  try {
    const parsed = RolloutMarkSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export const writeMark = (mark: RolloutMark): string => JSON.stringify(mark);

/** `<plan name>/<plan uid>` → uid. */
export const cordonMark = (planName: string, planUid: string): string => `${planName}/${planUid}`;
const uidOfCordonMark = (value: string | undefined): string | undefined => value?.split('/').pop();

export function nodeView(node: CoreNode, record: LiveUpdateNode | undefined): NodeView {
  const view: NodeView = {
    name: node.metadata.name ?? '',
    labels: node.metadata.labels ?? {},
    ready: nodeIsReady(node),
    unschedulable: node.spec.unschedulable === true,
  };
  const cordonedBy = uidOfCordonMark(node.metadata.annotations?.[CORDONED_BY_ANNOTATION]);
  if (cordonedBy) view.cordonedBy = cordonedBy;
  if (node.status.nodeInfo?.bootID) view.bootID = node.status.nodeInfo.bootID;
  if (record) {
    view.record = {
      resourceVersion: record.metadata.resourceVersion ?? '',
      attempt: record.spec.attempt,
      action: record.spec.action,
    };
    if (record.spec.planRef) view.record.claim = { planName: record.spec.planRef.name, planUid: record.spec.planRef.uid };
    const mark = readMark(record);
    if (mark) view.record.mark = mark;
    if (record.status) view.record.status = record.status;
  }
  return view;
}
