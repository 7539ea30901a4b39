// What the demo shows while the plan rolls, from the API objects only: the plan's status and, per node, its
// LiveUpdateNode (the agent's report) and the operator's rollout mark on it. Pure: the caller passes the clock.
import type { LiveUpdateNode, LiveUpdateNodeStatus } from '../api/node';
import type { LiveUpdatePlan, NodeRolloutPhase } from '../api/plan';
import type { RolloutMark } from '../operator/model';
import { readMark } from '../operator/views';

export interface FleetNode {
  name: string;
  topology: string;
}

export interface Snapshot {
  plan: LiveUpdatePlan | undefined;
  /** In fleet order. */
  nodes: readonly FleetNode[];
  record: (node: string) => LiveUpdateNode | undefined;
}

/** Endpoint / bridge counts of a preservation closure. */
export interface Preserved {
  devices: number;
  bridges: number;
}

export type Dma = { kind: 'pending' } | { kind: 'none' } | { kind: 'continuous'; devices: number } | { kind: 'lost'; lost: number; devices: number };

export interface NodeRow {
  node: string;
  topology: string;
  phase: NodeRolloutPhase;
  /** True when the phase comes from the agent's report, not from the operator's mark (which has no time for it). */
  agentPhase: boolean;
  kernel: string;
  preserved: Preserved;
  dma: Dma;
  /** When the operator entered its phase (the mark's `since`). */
  since?: string;
  reason?: string;
  message?: string;
}

export interface PlanRow {
  name: string;
  phase: string;
  step?: number;
  steps: number;
  succeeded: number;
  selected: number;
  inFlight: number;
  failed: number;
  cancelled: number;
  skipped: number;
  pauseReasons: string[];
}

export interface View {
  plan?: PlanRow;
  rows: NodeRow[];
}

/** The kernel column before the node's agent has reported. */
export const UNKNOWN = '?';

const SHOWN_FOR_MARK: Record<RolloutMark['phase'], NodeRolloutPhase> = {
  Preparing: 'Preparing',
  Executing: 'Executing',
  Finishing: 'Finishing',
  Soaking: 'Uncordoned',
  Cancelling: 'Cancelling',
  Succeeded: 'Succeeded',
  Cancelled: 'Cancelled',
  Failed: 'Failed',
};

/** The agent's report if it answers this plan's attempt on the node. */
function reportFor(status: LiveUpdateNodeStatus | undefined, mark: RolloutMark): LiveUpdateNodeStatus | undefined {
  return status?.observedPlanUID === mark.planUid && status.observedAttempt === mark.attempt ? status : undefined;
}

/**
 * DESIGN §4's phase for a node: the operator's mark, refined by the agent's report where the operator waits on it
 * (Prepared while Preparing; Rebooted / Verifying while Executing; Finished while Finishing).
 */
export function displayPhase(mark: RolloutMark | undefined, status: LiveUpdateNodeStatus | undefined, skipped: boolean): { phase: NodeRolloutPhase; agent: boolean } {
  if (!mark) return { phase: skipped ? 'Skipped' : 'Pending', agent: false };
  const agent = reportFor(status, mark)?.phase;
  const refined: NodeRolloutPhase | undefined =
    mark.phase === 'Preparing' && agent === 'Prepared'
      ? 'Prepared'
      : mark.phase === 'Executing' && agent === 'Rebooted'
        ? 'Rebooted'
        : mark.phase === 'Executing' && agent === 'Verified'
          ? 'Verifying'
          : mark.phase === 'Finishing' && agent === 'Finished'
            ? 'Finished'
            : undefined;
  return refined ? { phase: refined, agent: true } : { phase: SHOWN_FOR_MARK[mark.phase], agent: false };
}

export function preservedCounts(status: LiveUpdateNodeStatus | undefined): Preserved {
  const closure = status?.preservation ?? [];
  return {
    devices: closure.filter((p) => p.flags.includes('busmaster')).length,
    bridges: closure.filter((p) => p.flags.includes('busmaster-bridge')).length,
  };
}

/** DMA continuity as the agent measured it through the kexec (endpoints only: bridges carry no DMA of their own). */
export function dmaOf(status: LiveUpdateNodeStatus | undefined, preserved: Preserved): Dma {
  const measured = (status?.verification ?? []).filter((v) => v.dmaContinuous !== undefined);
  if (measured.length === 0) return preserved.devices === 0 ? { kind: 'none' } : { kind: 'pending' };
  const lost = measured.filter((v) => v.dmaContinuous === false).length;
  return lost > 0 ? { kind: 'lost', lost, devices: measured.length } : { kind: 'continuous', devices: measured.length };
}

export function buildView(snapshot: Snapshot): View {
  const { plan } = snapshot;
  const uid = plan?.metadata.uid;
  const skipped = new Set((plan?.status?.skippedNodes ?? []).map((s) => s.node));
  const rows = snapshot.nodes.map(({ name, topology }): NodeRow => {
    const record = snapshot.record(name);
    const rawMark = record ? readMark(record) : undefined;
    const mark = rawMark && rawMark.planUid === uid ? rawMark : undefined;
    const status = record?.status;
    const { phase, agent } = displayPhase(mark, status, skipped.has(name));
    const preserved = preservedCounts(status);
    const row: NodeRow = { node: name, topology, phase, agentPhase: agent, kernel: status?.kernelRelease ?? UNKNOWN, preserved, dma: dmaOf(mark && reportFor(status, mark), preserved) };
    if (mark) row.since = mark.since;
    const skip = plan?.status?.skippedNodes?.find((s) => s.node === name);
    if (mark?.reason) Object.assign(row, { reason: mark.reason, message: mark.message });
    else if (skip && !mark) Object.assign(row, { reason: skip.reason, message: skip.message });
    return row;
  });
  if (!plan) return { rows };
  const s = plan.status;
  const summary = s?.summary;
  const planRow: PlanRow = {
    name: plan.metadata.name ?? '',
    phase: s?.phase ?? 'Pending',
    steps: plan.spec.strategy.steps.length,
    succeeded: summary?.succeeded ?? 0,
    selected: summary?.selected ?? snapshot.nodes.length,
    inFlight: summary?.inFlight ?? 0,
    failed: summary?.failed ?? 0,
    cancelled: summary?.cancelled ?? 0,
    skipped: summary?.skipped ?? 0,
    pauseReasons: s?.pauseReasons ?? [],
  };
  if (s?.currentStep !== undefined) planRow.step = s.currentStep;
  return { plan: planRow, rows };
}

/**
 * When each node entered the phase it shows: the mark's time for the operator's phases; for a phase read from the
 * agent's report (which carries no time), when the demo first saw it.
 */
export class PhaseClock {
  private readonly seen = new Map<string, { phase: string; at: number }>();

  since(row: NodeRow, now: number): number | undefined {
    if (!row.agentPhase) {
      this.seen.delete(row.node);
      return row.since === undefined ? undefined : Date.parse(row.since);
    }
    const last = this.seen.get(row.node);
    if (last?.phase === row.phase) return last.at;
    this.seen.set(row.node, { phase: row.phase, at: now });
    return now;
  }
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export function formatDma(dma: Dma): string {
  switch (dma.kind) {
    case 'pending':
      return '…';
    case 'none':
      return 'n/a';
    case 'continuous':
      return `yes ${dma.devices}/${dma.devices}`;
    case 'lost':
      return `LOST ${dma.lost}/${dma.devices}`;
  }
}

export function progressBar(done: number, total: number, width = 24): string {
  const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0;
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

export function planHeadline(plan: PlanRow): string {
  const step = plan.step === undefined ? '' : `  step ${plan.step + 1}/${plan.steps}`;
  const counts = `${plan.succeeded}/${plan.selected} succeeded · ${plan.inFlight} in flight · ${plan.failed} failed · ${plan.cancelled} cancelled · ${plan.skipped} skipped`;
  return `plan ${plan.name}  ${plan.phase}${step}  ${counts}`;
}

const COLUMNS = ['NODE', 'TOPOLOGY', 'PHASE', 'KERNEL', 'DEVICES', 'BRIDGES', 'DMA', 'IN PHASE', 'REASON'] as const;

export function tableRows(rows: readonly NodeRow[], clock: PhaseClock, now: number): string[][] {
  return rows.map((r) => {
    const since = clock.since(r, now);
    return [r.node, r.topology, r.phase, r.kernel, String(r.preserved.devices), String(r.preserved.bridges), formatDma(r.dma), since === undefined ? '' : formatDuration(now - since), r.reason ?? ''];
  });
}

export function formatTable(header: readonly string[], rows: readonly string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** The whole live frame for a terminal: headline, progress bar, pause reasons, node table. */
export function renderFrame(view: View, clock: PhaseClock, now: number): string {
  const lines: string[] = [];
  if (view.plan) {
    lines.push(planHeadline(view.plan));
    const { succeeded, selected, skipped } = view.plan;
    lines.push(`${progressBar(succeeded, selected - skipped)} ${succeeded}/${selected - skipped} updated${skipped > 0 ? ` (${skipped} skipped)` : ''}`);
    for (const reason of view.plan.pauseReasons) lines.push(`paused: ${reason}`);
  } else lines.push('plan: not applied yet');
  lines.push('', formatTable(COLUMNS, tableRows(view.rows, clock, now)));
  return lines.join('\n');
}

const planKey = (p: PlanRow | undefined) => (p ? JSON.stringify([p.phase, p.step, p.succeeded, p.failed, p.cancelled, p.pauseReasons]) : '');
const rowKey = (r: NodeRow) => JSON.stringify([r.phase, r.kernel, r.dma, r.reason]);

export const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

function nodeLine(r: NodeRow): string {
  const parts = [`${r.node} ${r.phase}`, `kernel ${r.kernel}`];
  // The closure is the agent's answer to this attempt: known once it reports Prepared.
  if (r.phase === 'Prepared')
    parts.push(r.preserved.devices === 0 ? 'no passthrough device to preserve' : `preserving ${plural(r.preserved.devices, 'device')} and ${plural(r.preserved.bridges, 'bridge')} above them`);
  if (r.dma.kind === 'continuous' || r.dma.kind === 'lost') parts.push(`DMA ${formatDma(r.dma)}`);
  if (r.reason) parts.push(`${r.reason}${r.message ? `: ${r.message}` : ''}`);
  return parts.join('  ');
}

/** Without a terminal: one line per change of the plan or of a node since the previous view (from its agent's first report on). */
export function changeLines(prev: View | undefined, next: View, elapsedMs: number): string[] {
  const stamp = `+${(elapsedMs / 1000).toFixed(1).padStart(5)}s`;
  const lines: string[] = [];
  if (next.plan && planKey(prev?.plan) !== planKey(next.plan)) {
    lines.push(`${stamp} ${planHeadline(next.plan)}`);
    const before = new Set(prev?.plan?.pauseReasons);
    for (const reason of next.plan.pauseReasons) if (!before.has(reason)) lines.push(`${stamp}   paused: ${reason}`);
  }
  const previous = new Map(prev?.rows.map((r) => [r.node, rowKey(r)]));
  for (const row of next.rows) if (row.kernel !== UNKNOWN && previous.get(row.node) !== rowKey(row)) lines.push(`${stamp} ${nodeLine(row)}`);
  return lines;
}
