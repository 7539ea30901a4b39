// The LiveUpdateNode status the agent publishes, derived (pure) from what it knows: journal, boot, kernel, inventory.
// The status writer sends only what changed, so an idle agent whose machine did not change writes nothing.
import { DEVICE_LIMITS, type AgentPhase, type LiveUpdateNodeStatus } from '../api/node';
import { planPreservation } from '../pci/preservation';
import type { Bdf, HostIdentity, Inventory, LuoApi, LuoLegacyState } from '../host/types';
import { deviceReport } from './device-report';
import type { Journal, JournalPhase } from './journal';

/**
 * The largest status the agent writes: half of etcd's 1.5 MiB object limit, leaving room for metadata and spec. A
 * device report that would pass it is withheld (inventoryIncomplete), so the operator skips the node.
 */
export const STATUS_BUDGET_BYTES = 768 * 1024;

const PHASE: Record<JournalPhase, AgentPhase> = {
  Preparing: 'Preflight',
  Prepared: 'Prepared',
  Executing: 'Executing',
  Rebooted: 'Rebooted',
  Verified: 'Verified',
  Finished: 'Finished',
  Cancelled: 'Cancelled',
  Failed: 'Failed',
};

export interface StatusInput {
  previous: LiveUpdateNodeStatus | undefined;
  journal: Journal | undefined;
  identity: HostIdentity;
  /** Undefined when the LUO device could not be opened to tell (luoError says why). */
  api: LuoApi | undefined;
  legacyState: LuoLegacyState | undefined;
  inventory: Inventory;
  /** The endpoints the operator currently asks to preserve (spec.preserve). */
  requested: Bdf[];
  version: string;
  /** Renew agent.heartbeatTime in this write (first report of a process, or an action in flight). */
  heartbeat: boolean;
  now: Date;
  /** A journal that could not be read or written: the agent refuses to act and says so, for the request's key if given. */
  journalError?: { reason: string; message: string; planUid?: string; attempt?: number };
  /** The LUO device could not be used this pass (LuoBusy): reported as the last error; the phase stays. */
  luoError?: { reason: string; message: string };
}

export function desiredStatus(input: StatusInput): LiveUpdateNodeStatus {
  const { journal, identity, inventory } = input;
  const heartbeatTime = input.heartbeat || !input.previous?.agent?.heartbeatTime ? input.now.toISOString() : input.previous.agent.heartbeatTime;
  // While an attempt is under way its closure is the truth; otherwise show what the current request would preserve.
  const plan = planPreservation(inventory, { bdfs: input.requested });
  const closure = journal && journal.phase !== 'Failed' && journal.phase !== 'Cancelled' ? journal.closure : plan.preserve.map(({ bdf, flags }) => ({ bdf, flags }));
  const status: LiveUpdateNodeStatus = {
    agent: { version: input.version, heartbeatTime },
    bootID: identity.bootId,
    kernelRelease: identity.kernelRelease,
    ...(input.api === undefined ? {} : { luo: input.legacyState ? { api: input.api, state: input.legacyState } : { api: input.api } }),
    ...deviceReport(inventory),
    preservation: closure,
    preservationErrors: plan.errors.slice(0, DEVICE_LIMITS.preservationErrors).map((e) => ({ bdf: e.bdf, reason: e.reason.slice(0, 64), message: e.message.slice(0, 512) })),
    preservationErrorCount: plan.errors.length,
    preservedDevices: closure.filter((c) => c.flags.includes('busmaster')).length,
    phase: input.journalError ? 'Failed' : journal ? PHASE[journal.phase] : 'Idle',
  };
  if (journal) {
    status.observedPlanUID = journal.planUid;
    status.observedAttempt = journal.attempt;
    if (journal.kexecIssuedAt) status.kexecIssuedAt = journal.kexecIssuedAt;
    if (journal.verification) status.verification = journal.verification;
    status.timings = Object.fromEntries(Object.entries(journal.timings).map(([k, v]) => [k, Math.max(0, Math.round(v))]));
    if (journal.lastError) status.lastError = { reason: journal.lastError.reason.slice(0, 128), message: journal.lastError.message.slice(0, 4096) };
  }
  if (input.luoError) status.lastError = { reason: input.luoError.reason, message: input.luoError.message.slice(0, 4096) };
  if (input.journalError) {
    const { reason, message, planUid, attempt } = input.journalError;
    status.lastError = { reason, message: message.slice(0, 4096) };
    if (planUid !== undefined && attempt !== undefined) Object.assign(status, { observedPlanUID: planUid, observedAttempt: attempt });
  }
  return withinBudget(status);
}

function withinBudget(status: LiveUpdateNodeStatus): LiveUpdateNodeStatus {
  const bytes = Buffer.byteLength(JSON.stringify(status));
  if (bytes <= STATUS_BUDGET_BYTES) return status;
  const { devices, otherDevices, ...rest } = status;
  const listed = `${devices?.length ?? 0} devices and ${otherDevices?.length ?? 0} other kinds`;
  return { ...rest, devices: [], inventoryIncomplete: `the status with ${listed} is ${bytes} bytes, more than the agent's budget of ${STATUS_BUDGET_BYTES}; plans skip this node` };
}
