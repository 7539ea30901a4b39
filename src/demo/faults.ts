// The demo's --fault NODE:KIND[:ARG] flags: parsed into the simulator's fault file format (src/host/sim/faults.ts),
// checked against the fleet the demo is about to start, and paired with the outcome the plan's policy prescribes.
import { faultFileSchema, type Fault, type FaultFile, type FaultKind } from '../host/sim/faults';
import type { NodeRolloutPhase, PlanPhase } from '../api/plan';
import { UsageError } from '../cli/usage';
import { formatFieldPath } from '../util/field-path';
import { expectedSkip, type DemoNode } from './plan';

export interface FaultFlag {
  /** As written: "3" (the fleet's third node, sim-node-03) or a node name. */
  node: string;
  fault: Fault;
  /** The flag's value, for messages. */
  raw: string;
}

/** A fault on a resolved node. */
export interface NodeFault {
  node: string;
  fault: Fault;
  raw: string;
}

const flagError = (raw: string, message: string) => new UsageError(`--fault ${raw}: ${message}`);

/** The fault object for KIND and its optional ARG (what ARG means depends on the kind). */
function faultObject(kind: string, arg: string | undefined): Record<string, unknown> {
  switch (kind) {
    case 'prepare-error':
    case 'native-driver-after-kexec':
      return { kind, device: arg };
    case 'kexec-load-error':
      return arg === undefined ? { kind } : { kind, message: arg };
    case 'bus-master-lost':
      return arg === undefined ? { kind } : { kind, devices: arg.split(',') };
    case 'freeze-error':
    case 'finish-error':
      return arg === undefined ? { kind } : { kind, errno: arg };
    case 'slow-step': {
      const [phase, ms] = (arg ?? '').split(':');
      return { kind, phase: phase || undefined, ms: ms === undefined ? undefined : Number(ms), times: 1 };
    }
    case 'agent-crash': {
      // One crash, then the restarted agent resumes: a crash on every start would only show a crash loop.
      const [phase, when] = (arg ?? '').split(':');
      return { kind, phase: phase || undefined, ...(when ? { when } : {}), times: 1 };
    }
    default:
      return { kind };
  }
}

const NO_ARG = '(none)';

export const FAULT_ARGS: Record<FaultKind, string> = {
  'prepare-error': 'BDF (required): prepare fails on that device',
  'kexec-load-error': '[message]',
  'never-returns': NO_ARG,
  'panic-on-boot': NO_ARG,
  'cold-reboot': NO_ARG,
  'bus-master-lost': '[BDF,BDF…] (default: every preserved device)',
  'freeze-error': '[EBUSY|EIO|EINVAL]',
  'finish-error': '[EIO|EBUSY|EINVAL]',
  'native-driver-after-kexec': 'BDF (required)',
  'agent-crash': 'PHASE[:before|after] (required; PHASE: prepare, cancel, load, execute, retrieve, finish)',
  'slow-step': 'PHASE:MS (required): that host operation takes MS milliseconds longer, once',
  'helper-crash': NO_ARG,
};

/** Parses one --fault value; errors name the flag and what is wrong with it. */
export function parseFaultFlag(raw: string): FaultFlag {
  const first = raw.indexOf(':');
  const node = first < 0 ? raw : raw.slice(0, first);
  const rest = first < 0 ? '' : raw.slice(first + 1);
  const second = rest.indexOf(':');
  const kind = second < 0 ? rest : rest.slice(0, second);
  const arg = second < 0 ? undefined : rest.slice(second + 1);
  if (!node || !kind) throw flagError(raw, 'expected NODE:KIND[:ARG], e.g. 2:prepare-error:0000:05:00.1');
  if (!(kind in FAULT_ARGS)) throw flagError(raw, `unknown fault kind "${kind}": one of ${Object.keys(FAULT_ARGS).join(', ')}`);
  if (arg !== undefined && FAULT_ARGS[kind as FaultKind] === NO_ARG) throw flagError(raw, `${kind} takes no argument`);
  const parsed = faultFileSchema.safeParse({ nodes: { [node]: [faultObject(kind, arg)] } });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // Path is nodes.<node>.0.<field>: name the field of the fault only.
    const field = formatFieldPath(issue.path.slice(3));
    throw flagError(raw, `${field ? `${field}: ` : ''}${issue.message} (${kind} takes ${FAULT_ARGS[kind as FaultKind]})`);
  }
  return { node, fault: parsed.data.nodes[node]![0]!, raw };
}

/** NODE as the fleet's node name: a number is a position in the fleet (1 = the first node), as in sim-node-01. */
export function resolveFaultNode(flag: FaultFlag, names: readonly string[]): NodeFault {
  if (/^\d+$/.test(flag.node)) {
    const index = Number(flag.node);
    if (index < 1 || index > names.length) throw flagError(flag.raw, `node ${flag.node} is not in the fleet: --nodes ${names.length} makes nodes 1–${names.length} (${names[0]} … ${names.at(-1)})`);
    return { node: names[index - 1]!, fault: flag.fault, raw: flag.raw };
  }
  if (!names.includes(flag.node)) throw flagError(flag.raw, `no node named "${flag.node}" in the fleet (${names[0]} … ${names.at(-1)}); a number like 2 also names a node`);
  return { node: flag.node, fault: flag.fault, raw: flag.raw };
}

/** The BDFs a fault names, which must be passthrough (vfio-pci) devices of its node for the fault to fire. */
export function faultDevices(fault: Fault): string[] {
  if (fault.kind === 'prepare-error' || fault.kind === 'native-driver-after-kexec') return [fault.device];
  if (fault.kind === 'bus-master-lost') return fault.devices ?? [];
  return [];
}

/** A fault that could never fire is a mistake in the flag: say so before starting anything. */
export function checkFaultNode(fault: NodeFault, node: DemoNode): void {
  const skip = expectedSkip(node);
  if (skip) throw flagError(fault.raw, `the plan skips ${node.name} (${node.topology}): ${skip}; pick another node`);
  const missing = faultDevices(fault.fault).filter((bdf) => !node.preservable.includes(bdf));
  if (missing.length === 0) return;
  const has = node.preservable.length > 0 ? `its passthrough devices: ${node.preservable.join(', ')}` : 'it has no passthrough device';
  throw flagError(fault.raw, `${node.name} (${node.topology}) has no passthrough device ${missing.join(', ')}; ${has}`);
}

export function faultFile(faults: readonly NodeFault[]): FaultFile {
  const nodes: Record<string, Fault[]> = {};
  for (const { node, fault } of faults) (nodes[node] ??= []).push(fault);
  return { nodes };
}

/**
 * What the demo's plan (onFailure: Halt, maxFailedNodes: 0) prescribes for a node with this fault. A halted plan stays
 * Halted for a human while nodes remain to update, and ends Failed when none does.
 */
export interface Expectation {
  plan: Extract<PlanPhase, 'Completed' | 'Halted'>;
  phases: NodeRolloutPhase[];
  reason?: string;
  why: string;
}

const BEFORE = '— before the point of no return: the operator cancels the node and the plan halts';
const AFTER = '— after the point of no return: the node is Failed, stays cordoned for a human, and the plan halts';

export function expectation(fault: Fault): Expectation {
  const cancelled = (reason: string, what: string): Expectation => ({ plan: 'Halted', phases: ['Cancelled'], reason, why: `${what} ${BEFORE}` });
  const failed = (reason: string, what: string): Expectation => ({ plan: 'Halted', phases: ['Failed'], reason, why: `${what} ${AFTER}` });
  switch (fault.kind) {
    case 'prepare-error':
      return cancelled('PrepareFailed', `prepare fails on ${fault.device}`);
    case 'kexec-load-error':
      return cancelled('KexecLoadFailed', 'the kernel refuses to load the image');
    case 'freeze-error':
      return {
        plan: 'Completed',
        phases: ['Cancelled'],
        reason: 'KexecRefused',
        why: 'reboot(KEXEC) is refused in freeze: the node stays on its old kernel with everything cancelled, so it is cancelled and uncordoned — not a failure, the plan goes on',
      };
    case 'slow-step':
      return { plan: 'Completed', phases: ['Succeeded'], why: `the host's ${fault.phase} takes ${fault.ms} ms longer: the update completes` };
    case 'never-returns':
    case 'panic-on-boot':
      return failed('NodeLost', fault.kind === 'never-returns' ? 'the node never comes back from kexec' : 'the new kernel panics at boot');
    case 'cold-reboot':
      return failed('ColdRebooted', 'the machine resets into the old kernel');
    case 'bus-master-lost':
      return failed('DMALost', 'bus master is cleared through the kexec');
    case 'native-driver-after-kexec':
      return failed('DriverChanged', `${fault.device} comes back on a native driver`);
    case 'finish-error':
      return failed('FinishFailed', 'LUO finish fails in the new kernel');
    case 'agent-crash':
      if (fault.phase === 'load' || fault.phase === 'prepare') return cancelled('AgentRestarted', `the agent dies ${fault.when} ${fault.phase} and its LUO session with it`);
      if (fault.phase === 'execute' && fault.when === 'before') return failed('KexecInterrupted', 'the agent dies after committing to kexec, which then never happens');
      return { plan: 'Completed', phases: ['Succeeded'], why: `the agent dies ${fault.when} ${fault.phase} and its restart resumes from its journal: the update completes` };
    case 'helper-crash':
      return cancelled('HelperLost', 'the LUO helper dies while the node is Prepared and its session with it: the agent finds it gone before kexec');
  }
}
