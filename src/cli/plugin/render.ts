// What the plugin prints, from API objects only: the plan (like `kubectl argo rollouts get rollout`), one row per
// node, ages as kubectl shows them. Pure: the caller passes the objects and the clock.
import { dump } from 'js-yaml';
import type { LiveUpdateNode } from '../../api/node';
import type { LiveUpdatePlan, NodeRolloutPhase } from '../../api/plan';
import { pendingApproval } from '../../demo/plan';
import { displayPhase, formatTable } from '../../demo/view';
import { selects } from '../../operator/planner/selector';
import { readMark } from '../../operator/views';

/** One node as the plugin shows it; also the shape of `-o json|yaml` for node lists. */
export interface NodeRow {
  node: string;
  /** The plan working on (or last done with) the node; absent on a node no plan touched. */
  plan?: string;
  /** The operator's phase for the node; "-" for a node no plan has worked on. */
  phase: NodeRolloutPhase | '-';
  attempt?: number;
  /** The operator's request (spec.action) and the agent's own phase (status.phase). */
  action: string;
  agent?: string;
  kernel?: string;
  reason?: string;
  message?: string;
  /** When the node entered its phase (the operator's mark), RFC 3339. */
  since?: string;
}

/** The phases in which a plan waits for nothing but a human, or is over: `status --watch` ends there. */
export const SETTLED_PHASES: ReadonlySet<string> = new Set(['Completed', 'Failed', 'Aborted', 'Halted', 'Previewed']);

/** kubectl's age format (apimachinery's HumanDuration): 45s, 3m12s, 95m, 5h30m, 30h, 3d4h, 12d, 2y100d. */
export function humanAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(s / 3600);
  const d = Math.floor(s / 86400);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (h < 3) return `${m}m`;
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (d < 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (y >= 8 || d % 365 === 0) return `${y}y`;
  return `${y}y${d % 365}d`;
}

const age = (since: string | undefined, now: number): string => (since === undefined ? '' : humanAge(now - Date.parse(since)));

/** A LiveUpdateNode as a row; `planName` resolves the plan uid in the operator's mark (undefined: unknown plan). */
export function nodeRow(record: LiveUpdateNode, planName: (uid: string) => string | undefined): NodeRow {
  const mark = readMark(record);
  const row: NodeRow = { node: record.metadata.name ?? '', phase: '-', action: record.spec.action };
  const plan = mark ? planName(mark.planUid) : record.spec.planRef?.name;
  if (plan) row.plan = plan;
  if (mark) {
    row.phase = displayPhase(mark, record.status, false).phase;
    row.attempt = mark.attempt;
    row.since = mark.since;
    if (mark.reason) row.reason = mark.reason;
    if (mark.message) row.message = mark.message;
  }
  if (record.status?.phase) row.agent = record.status.phase;
  if (record.status?.kernelRelease) row.kernel = record.status.kernelRelease;
  return row;
}

/**
 * Every node of the plan: those it started (its mark on the LiveUpdateNode), those it skips (status.skippedNodes), and
 * — when the Nodes could be read — the selected ones still waiting, as Pending. Sorted by name, as the operator orders.
 */
export function planNodeRows(plan: LiveUpdatePlan, records: readonly LiveUpdateNode[], nodes?: readonly { name: string; labels: Record<string, string> }[]): NodeRow[] {
  const uid = plan.metadata.uid;
  const name = plan.metadata.name ?? '';
  const rows = new Map<string, NodeRow>();
  const byName = new Map(records.map((r) => [r.metadata.name ?? '', r]));
  for (const record of records) if (readMark(record)?.planUid === uid) rows.set(record.metadata.name ?? '', nodeRow(record, () => name));
  for (const skip of plan.status?.skippedNodes ?? [])
    if (!rows.has(skip.node)) rows.set(skip.node, withReport({ node: skip.node, plan: name, phase: 'Skipped', action: 'None', reason: skip.reason, message: skip.message }, byName.get(skip.node)));
  for (const node of nodes ?? [])
    if (!rows.has(node.name) && selects(plan.spec.selector, node.name, node.labels))
      rows.set(node.name, withReport({ node: node.name, plan: name, phase: 'Pending', action: 'None' }, byName.get(node.name)));
  return [...rows.values()].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/** A node the plan has not started still shows what its agent reports: its own phase and kernel. */
function withReport(row: NodeRow, record: LiveUpdateNode | undefined): NodeRow {
  const status = record?.status;
  return { ...row, ...(status?.phase ? { agent: status.phase } : {}), ...(status?.kernelRelease ? { kernel: status.kernelRelease } : {}) };
}

export function nodeTable(rows: readonly NodeRow[], now: number, options: { plan: boolean }): string {
  const header = ['NODE', ...(options.plan ? ['PLAN'] : []), 'PHASE', 'ATTEMPT', 'ACTION', 'AGENT', 'KERNEL', 'REASON', 'AGE'];
  const cells = rows.map((r) => [
    r.node,
    ...(options.plan ? [r.plan ?? '-'] : []),
    r.phase,
    r.attempt === undefined ? '-' : String(r.attempt),
    r.action,
    r.agent ?? '-',
    r.kernel ?? '-',
    r.reason ?? '',
    age(r.since, now),
  ]);
  return formatTable(header, cells);
}

/** "i/n": the step being worked on, 1-based, of the plan's steps (a plan without steps is one step). */
export function stepOf(plan: LiveUpdatePlan): string {
  const steps = Math.max(1, plan.spec.strategy.steps.length);
  const current = plan.status?.currentStep;
  return current === undefined ? `-/${steps}` : `${Math.min(current + 1, steps)}/${steps}`;
}

/** The steps in words: "1 node, pause until approved → 100%". */
export function describeSteps(plan: LiveUpdatePlan): string {
  const steps = plan.spec.strategy.steps;
  if (steps.length === 0) return 'all selected nodes in one step';
  return steps
    .map((s) => {
      const nodes = typeof s.nodes === 'number' ? `${s.nodes} node${s.nodes === 1 ? '' : 's'}` : s.nodes;
      const pause = s.pause ? (s.pause.duration ? `, pause ${s.pause.duration}` : ', pause until approved') : '';
      return `${nodes}${pause}`;
    })
    .join(' → ');
}

/** What the plan is doing, in one line: its pause reasons, else its Ready condition's message. */
export function planMessage(plan: LiveUpdatePlan): string {
  const reasons = plan.status?.pauseReasons ?? [];
  if (reasons.length > 0) return reasons.join('; ');
  return plan.status?.conditions?.find((c) => c.type === 'Ready')?.message ?? '';
}

function field(label: string, value: string): string {
  return `${`${label}:`.padEnd(14)}${value}`;
}

/** The plan's header: name, phase and conditions, strategy, step i/n, counts, message and what to do next. */
export function planHeader(plan: LiveUpdatePlan, now: number): string {
  const { spec, status } = plan;
  const name = plan.metadata.name ?? '';
  const s = status?.summary;
  const generation = plan.metadata.generation;
  const lines = [
    field('Name', name),
    field('Phase', `${status?.phase ?? 'Pending'}${spec.abort ? ' (abort requested)' : ''}${spec.strategy.paused ? ' (paused by spec)' : ''}`),
    field('Message', planMessage(plan) || '-'),
    field('Target', `${spec.target.kernel.release} (from ${spec.target.compatibleFrom.join(', ')})`),
    field('Mode', spec.strategy.mode),
    field('Strategy', `${describeSteps(plan)}; maxInFlight ${spec.strategy.maxInFlight}, maxUnavailable ${spec.strategy.maxUnavailable}, order ${spec.strategy.order}`),
    field('On failure', `${spec.failurePolicy.onFailure} after ${spec.failurePolicy.maxFailedNodes} failed node(s)`),
    field('Step', stepOf(plan)),
    field('Progress', status?.progress ?? '-'),
    field(
      'Nodes',
      s
        ? `${s.selected} selected, ${s.eligible} eligible: ${s.succeeded} succeeded, ${s.inFlight} in flight, ${s.pending} pending, ${s.failed} failed, ${s.cancelled} cancelled, ${s.skipped} skipped`
        : '-',
    ),
  ];
  const conditions = status?.conditions ?? [];
  if (conditions.length > 0) lines.push(field('Conditions', conditions.map((c) => `${c.type}=${c.status} (${c.reason})`).join(', ')));
  if (spec.approvals.length > 0) lines.push(field('Approvals', spec.approvals.map((a) => `step ${a.step} by ${a.by} ${age(a.at, now)} ago`).join(', ')));
  if (status?.startedAt) lines.push(field('Started', `${age(status.startedAt, now)} ago${status.completedAt ? `, ended ${age(status.completedAt, now)} ago` : ''}`));
  if (generation !== undefined && (status?.observedGeneration ?? -1) < generation)
    lines.push(field('Note', `the operator has not acted on the latest spec yet (generation ${generation}, status from ${status?.observedGeneration ?? 'none'})`));
  const waiting = pendingApproval(plan);
  if (waiting !== undefined) lines.push(field('Next', `the pause after step ${waiting} (index in spec.approvals) waits for approval: kubectl liveupdate approve ${name}`));
  return lines.join('\n');
}

/** `status PLAN`: the header, the node table, and the failures with their messages. */
export function renderStatus(plan: LiveUpdatePlan, rows: readonly NodeRow[], now: number, pendingUnnamed = false): string {
  const out = [planHeader(plan, now), ''];
  out.push(rows.length > 0 ? nodeTable(rows, now, { plan: false }) : 'No nodes yet.');
  if (pendingUnnamed && (plan.status?.summary?.pending ?? 0) > 0)
    out.push(`(${plan.status?.summary?.pending} pending nodes not listed: listing Nodes is forbidden for this user)`);
  const failures = plan.status?.failedNodes ?? [];
  if (failures.length > 0) out.push('', 'Failures:', ...failures.map((f) => `  ${f.node} ${f.phase} (${f.reason}): ${f.message}`));
  return `${out.join('\n')}\n`;
}

/** `preview`: the order, the batches per step, and every selected node's eligibility. */
export function renderPreview(plan: LiveUpdatePlan): string {
  const preview = plan.status?.preview;
  const name = plan.metadata.name ?? '';
  if (!preview) return `Plan ${name}: no preview yet (the operator fills status.preview for strategy.mode: Preview)\n`;
  const listed = preview.nodes ?? [];
  const lines = [
    `Preview of plan ${name}: ${preview.eligible} of ${preview.selected} selected nodes eligible; no node is touched while strategy.mode is Preview.`,
    '',
    'Batches (step indexes as in spec.approvals):',
    ...preview.batches.map((b) => {
      const more = b.size > b.nodes.length ? ` and ${b.size - b.nodes.length} more` : '';
      return `  step ${b.step}${b.step === 0 && preview.batches.length > 1 ? ' (canary)' : ''}: ${b.size > 0 ? `${b.nodes.join(', ')}${more}` : '(none)'}`;
    }),
    '',
    formatTable(
      ['NODE', 'ELIGIBLE', 'REASON', 'MESSAGE'],
      listed.map((n) => [n.node, n.eligible ? 'yes' : 'no', n.reason ?? '', n.message ?? '']),
    ),
    ...(preview.selected > listed.length ? [`(first ${listed.length} of ${preview.selected} selected nodes by name)`] : []),
    '',
    `To roll: kubectl patch lup ${name} --type merge -p '{"spec":{"strategy":{"mode":"Execute"}}}'`,
  ];
  return `${lines.join('\n')}\n`;
}

export type OutputFormat = 'json' | 'yaml';

/** `-o json|yaml`: the same data the tables show, for scripts. */
export function formatOutput(value: unknown, format: OutputFormat): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : dump(value, { noRefs: true, lineWidth: -1 });
}
