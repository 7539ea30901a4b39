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
  bootID: z.string().optional(),
  released: z.object({ by: z.string(), at: z.string() }).optional(),
}) satisfies z.ZodType<RolloutMark>;

/** Our mark on a LiveUpdateNode, or why it cannot be read (never guessed at: the planner holds such a node as it is). */
export function parseMark(record: LiveUpdateNode): { mark?: RolloutMark; error?: string } {
  const raw = record.metadata.annotations?.[ROLLOUT_ANNOTATION];
  if (!raw) return {};
  const where = `LiveUpdateNode ${record.metadata.name ?? '?'} annotation ${ROLLOUT_ANNOTATION}`;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return { error: `${where}: not JSON (${(err as Error).message})` };
  }
  const parsed = RolloutMarkSchema.safeParse(json);
  if (parsed.success) return { mark: parsed.data };
  const issue = parsed.error.issues[0];
  return { error: `${where}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}` };
}

/** Our mark on a LiveUpdateNode; undefined when absent or unreadable (parseMark says why). */
export const readMark = (record: LiveUpdateNode): RolloutMark | undefined => parseMark(record).mark;

export const writeMark = (mark: RolloutMark): string => JSON.stringify(mark);

/** `<plan name>/<plan uid>` → uid. */
export const cordonMark = (planName: string, planUid: string): string => `${planName}/${planUid}`;
const uidOfCordonMark = (value: string | undefined): string | undefined => value?.split('/').pop();

/** `recordError`: the informer holds a LiveUpdateNode of this name that does not parse (kept out of its cache). */
export function nodeView(node: CoreNode, record: LiveUpdateNode | undefined, recordError?: string): NodeView {
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
    const { mark, error } = parseMark(record);
    if (mark) view.record.mark = mark;
    if (error) view.recordError = error;
    if (record.status) view.record.status = record.status;
  } else if (recordError) view.recordError = recordError;
  return view;
}
