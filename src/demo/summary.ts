// The demo's ending: a summary per node, whether the outcome is the one the plan's policy prescribes, and the same
// facts as JSON (--json).
import type { LiveUpdateNode } from '../api/node';
import type { LiveUpdatePlan, NodeRolloutPhase } from '../api/plan';
import { expectation, type NodeFault } from './faults';
import { buildView, formatTable, plural, type FleetNode, type Preserved } from './view';

export interface NodeSummary {
  node: string;
  topology: string;
  phase: NodeRolloutPhase;
  reason?: string;
  message?: string;
  kernelBefore?: string;
  kernelAfter?: string;
  /** What the plan set out to preserve on the node: endpoints (busmaster) and the bridges above them. */
  planned: Preserved;
  /** What kept bus master through the kexec (the agent's verification); 0 where no kexec happened. */
  preserved: Preserved;
  /** Every measured endpoint's DMA advanced through the kexec; null when nothing was measured. */
  dmaContinuous: boolean | null;
  timings: { prepareMs?: number; kexecMs?: number; blackoutMs?: number; verifyMs?: number; finishMs?: number };
}

export interface Verdict {
  ok: boolean;
  lines: string[];
}

export interface DemoSummary {
  plan: { name: string; phase: string; progress?: string };
  nodes: NodeSummary[];
  verdict: Verdict;
}

export function nodeSummaries(plan: LiveUpdatePlan | undefined, nodes: readonly FleetNode[], record: (node: string) => LiveUpdateNode | undefined, kernelBefore: ReadonlyMap<string, string>): NodeSummary[] {
  const view = buildView({ plan, nodes, record });
  return view.rows.map((row): NodeSummary => {
    const status = record(row.node)?.status;
    // A failed attempt's status no longer lists its closure: the verification does, and the device class tells bridges.
    const bridges = new Set([
      ...(status?.preservation ?? []).filter((p) => p.flags.includes('busmaster-bridge')).map((p) => p.bdf),
      ...(status?.devices ?? []).filter((d) => d.class.startsWith('0604')).map((d) => d.bdf),
    ]);
    const verification = status?.verification ?? [];
    const count = (bdfs: string[]): Preserved => ({ devices: bdfs.filter((b) => !bridges.has(b)).length, bridges: bdfs.filter((b) => bridges.has(b)).length });
    const summary: NodeSummary = {
      node: row.node,
      topology: row.topology,
      phase: row.phase,
      planned: verification.length > 0 ? count(verification.map((v) => v.bdf)) : row.preserved,
      preserved: count(verification.filter((v) => v.busMasterAfter).map((v) => v.bdf)),
      dmaContinuous: row.dma.kind === 'continuous' ? true : row.dma.kind === 'lost' ? false : null,
      timings: { ...status?.timings },
    };
    if (row.reason) summary.reason = row.reason;
    if (row.message) summary.message = row.message;
    const before = kernelBefore.get(row.node);
    if (before) summary.kernelBefore = before;
    if (status?.kernelRelease) summary.kernelAfter = status.kernelRelease;
    return summary;
  });
}

const outcome = (n: NodeSummary) => `${n.phase}${n.reason ? ` (${n.reason})` : ''}`;

/**
 * Without faults every node ends Succeeded on the target with continuous DMA, or Skipped where the plan's device rules
 * say so (`skipWhy`), and the plan Completed. With faults, each faulted node ends as the policy prescribes for its
 * fault (or is never reached because the plan halted first), every other node as without faults or never started,
 * and the plan halts if any fault halts it (Halted, or Failed when no node was left to update).
 */
export function judge(planPhase: string, nodes: readonly NodeSummary[], faults: readonly NodeFault[], target: string, skipWhy: (node: string) => string | undefined): Verdict {
  const lines: string[] = [];
  let ok = true;
  const problem = (line: string) => {
    ok = false;
    lines.push(`✗ ${line}`);
  };
  const faulted = new Map(faults.map((f) => [f.node, f]));
  const halts = faults.some((f) => expectation(f.fault).plan === 'Halted');
  if (halts && (planPhase === 'Halted' || planPhase === 'Failed'))
    lines.push(
      `✓ plan ${planPhase}: a node failed, more than maxFailedNodes (0), so onFailure: Halt started no other node, as prescribed` +
        (planPhase === 'Halted' ? ' (it waits for a human: raise maxFailedNodes, or abort)' : ' (no node was left to update)'),
    );
  else if (!halts && planPhase === 'Completed') lines.push(`✓ plan ${planPhase}, as prescribed`);
  else problem(`plan ${planPhase}, expected ${halts ? 'Halted (or Failed when no node is left)' : 'Completed'}`);

  for (const n of nodes) {
    const fault = faulted.get(n.node);
    if (fault) {
      const e = expectation(fault.fault);
      const want = `${e.phases.join(' or ')}${e.reason ? ` (${e.reason})` : ''}`;
      if (e.phases.includes(n.phase) && (e.reason === undefined || n.reason === e.reason)) lines.push(`✓ ${n.node}: --fault ${fault.raw} → ${outcome(n)}: ${e.why}`);
      else if (n.phase === 'Pending' && halts) lines.push(`✓ ${n.node}: --fault ${fault.raw} never fired: the plan halted before reaching the node`);
      else problem(`${n.node}: --fault ${fault.raw} → ${outcome(n)}, expected ${want}: ${e.why}`);
      continue;
    }
    const skip = skipWhy(n.node);
    if (skip) {
      if (n.phase === 'Skipped' && n.reason === 'DevicesNotPreservable') lines.push(`✓ ${n.node}: Skipped (${n.reason}): ${skip}`);
      else problem(`${n.node}: ${outcome(n)}, expected Skipped (DevicesNotPreservable): ${skip}`);
    } else if (n.phase === 'Succeeded') {
      if (n.kernelAfter !== target) problem(`${n.node}: Succeeded but runs ${n.kernelAfter ?? 'an unknown kernel'}, not ${target}`);
      if (n.dmaContinuous === false) problem(`${n.node}: Succeeded but DMA stopped through the kexec`);
    } else if (!(n.phase === 'Pending' && halts)) problem(`${n.node}: ${outcome(n)}${n.message ? `: ${n.message}` : ''}, expected Succeeded`);
  }
  const updated = nodes.filter((n) => n.phase === 'Succeeded');
  if (ok && updated.length > 0) {
    const kept = updated.reduce((a, n) => ({ devices: a.devices + n.preserved.devices, bridges: a.bridges + n.preserved.bridges }), { devices: 0, bridges: 0 });
    lines.push(`✓ ${updated.length}/${nodes.length} nodes live-updated to ${target}: ${plural(kept.devices, 'passthrough device')} and ${plural(kept.bridges, 'bridge')} kept bus master, DMA never stopped`);
  }
  return { ok, lines };
}

const ms = (value: number | undefined) => (value === undefined ? '' : `${value}`);

/** The per-node summary table: outcome, kernels, what was preserved, DMA, timings and the blackout. */
export function renderSummary(summary: DemoSummary): string {
  const header = ['NODE', 'TOPOLOGY', 'PHASE', 'KERNEL BEFORE → AFTER', 'DEVICES', 'BRIDGES', 'DMA', 'PREPARE ms', 'KEXEC ms', 'BLACKOUT ms', 'VERIFY ms', 'FINISH ms', 'REASON'];
  const rows = summary.nodes.map((n) => [
    n.node,
    n.topology,
    n.phase,
    `${n.kernelBefore ?? '?'} → ${n.kernelAfter ?? '?'}`,
    `${n.preserved.devices}/${n.planned.devices}`,
    `${n.preserved.bridges}/${n.planned.bridges}`,
    n.dmaContinuous === null ? 'n/a' : n.dmaContinuous ? 'continuous' : 'LOST',
    ms(n.timings.prepareMs),
    ms(n.timings.kexecMs),
    ms(n.timings.blackoutMs),
    ms(n.timings.verifyMs),
    ms(n.timings.finishMs),
    n.reason ?? '',
  ]);
  const { plan } = summary;
  return [
    `Summary: plan ${plan.name} ${plan.phase}${plan.progress ? ` (${plan.progress} succeeded)` : ''}`,
    '',
    formatTable(header, rows),
    '',
    'DEVICES / BRIDGES: kept bus master through the kexec / planned. BLACKOUT: kexec issued → new kernel up.',
    ...summary.verdict.lines,
  ].join('\n');
}

/** --json: the same facts, machine-readable. */
export function summaryJson(summary: DemoSummary): object {
  return {
    plan: summary.plan,
    asExpected: summary.verdict.ok,
    verdict: summary.verdict.lines,
    nodes: summary.nodes.map((n) => ({
      node: n.node,
      topology: n.topology,
      phase: n.phase,
      reason: n.reason ?? null,
      message: n.message ?? null,
      kernelBefore: n.kernelBefore ?? null,
      kernelAfter: n.kernelAfter ?? null,
      preserved: n.preserved,
      planned: n.planned,
      dmaContinuous: n.dmaContinuous,
      timings: n.timings,
    })),
  };
}
