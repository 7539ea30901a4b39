// The node agent: watches its own LiveUpdateNode (and nothing else), turns the operator's request into one step of the
// phase machine, and reports. After any restart it re-derives where it is from the journal, the boot id, the kernel
// release and the LUO handover — never from memory.
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { LiveUpdateNode } from '../api/node';
import type { DmaSample, Host, HostIdentity, LuoApi } from '../host/types';
import { nodeResource } from '../kube/cluster-resource';
import { EventRecorder } from '../kube/events';
import { nodeRecordKind } from '../kube/kinds';
import { silentLogger, type Logger } from '../kube/log';
import { Manager } from '../kube/manager';
import type { ObjectSource } from '../kube/named-views';
import { isConflict } from '../kube/retry';
import { writeStatusIfChanged } from '../kube/status-writer';
import { NodeActions } from './actions';
import type { AgentExit } from './contract';
import { decide, isActive, type Step } from './decide';
import { LuoBusyError } from '../host/luo-busy';
import { JournalCorruptError, JournalStore, JournalWriteError, type Journal } from './journal';
import { desiredStatus, type StatusInput } from './status';

export const AGENT_VERSION = '0.1.0';

export interface AgentOptions {
  kc: KubeConfig;
  node: string;
  host: Host;
  stateDir: string;
  log?: Logger;
  signal?: AbortSignal;
  /** Called once the first status of this process is published. */
  onReady?: (bootId: string) => void;
  /** Heartbeat period while an attempt is in flight (idle agents do not heartbeat: their status does not change). */
  heartbeatMs?: number;
  /** How often an idle agent re-reads its devices (local reads; an API write only if something changed). */
  inventoryIntervalMs?: number;
  healthProbeBindAddress?: string;
  /** Where to read this node's LiveUpdateNode; default an informer of its own. In-process fleets share one (NamedViews). */
  records?: ObjectSource<LiveUpdateNode>;
}

const AGENT_CONTROLLER = 'liveupdate.dev/agent';

/** What this boot is: read once per pass. */
interface Boot {
  identity: HostIdentity;
  /** Undefined only while /dev/liveupdate could not be opened to tell. */
  api: LuoApi | undefined;
}

/** Runs the agent until a signal, a (simulated) kexec, a dead simulated node or an injected crash. */
export async function runAgent(options: AgentOptions): Promise<AgentExit> {
  const log = (options.log ?? silentLogger).child({ node: options.node });
  const manager = new Manager({ kc: options.kc, log, healthProbeBindAddress: options.healthProbeBindAddress ?? '0', gracefulShutdownMs: 30_000 });
  const records = options.records ?? manager.informer({ kind: nodeRecordKind, fieldSelector: `metadata.name=${options.node}` });
  const agent = new NodeAgent(options, log, (exit) => {
    outcome = exit;
    manager.stop();
  });
  let outcome: AgentExit = { kind: 'stopped' };
  const controller = manager.controller({ name: 'agent', reconcile: () => agent.reconcile(records.get(options.node)) });
  // Spec changes only: the agent's own status writes must not wake it (the heartbeat uses requeueAfter).
  controller.watch(records, { generationChanged: true });
  void records.waitForSync().then((synced) => synced && controller.queue.add(options.node));
  // Listen before the first await, and honour a signal that already fired: a stop that comes while the agent starts
  // (a SIGTERM during start-up, a fleet stopping) must not be lost. A manager stopped before start() shuts down at once.
  const stop = (): void => manager.stop();
  options.signal?.addEventListener('abort', stop, { once: true });
  if (options.signal?.aborted) stop();
  try {
    await mkdir(options.stateDir, { recursive: true });
    await manager.start();
  } finally {
    options.signal?.removeEventListener('abort', stop);
    await agent.events.flush();
  }
  return outcome;
}

class NodeAgent {
  readonly events: EventRecorder;
  private readonly processId = randomUUID();
  private readonly store: JournalStore;
  private readonly actions: NodeActions;
  private readonly resource;
  private readonly startedAt = Date.now();
  private reported = false;
  private lastHeartbeat = 0;
  private lastIgnored = '';
  private finished = false;

  constructor(
    private readonly options: AgentOptions,
    private readonly log: Logger,
    private readonly exit: (outcome: AgentExit) => void,
  ) {
    this.store = new JournalStore(options.stateDir);
    this.actions = new NodeActions(options.host, this.store, options.node, this.processId, log);
    this.resource = nodeResource(options.kc);
    this.events = new EventRecorder({ kc: options.kc, reportingController: AGENT_CONTROLLER, reportingInstance: `agent-${options.node}`, log });
  }

  async reconcile(record: LiveUpdateNode | undefined): Promise<{ requeueAfterMs?: number } | void> {
    if (this.finished) return;
    if (!record) return this.createRecord();
    try {
      return await this.step(record);
    } catch (err) {
      if (err instanceof Error && err.name === 'SimAgentCrash') {
        this.log.error({ phase: (err as Error & { phase?: string }).phase }, 'injected agent crash');
        return this.end({ kind: 'crashed', phase: String((err as Error & { phase?: string }).phase) });
      }
      if (err instanceof Error && err.name === 'SimNodeDownError') return this.end({ kind: 'node-down', reason: err.message });
      throw err;
    }
  }

  private async step(record: LiveUpdateNode): Promise<{ requeueAfterMs?: number } | void> {
    const seenAt = performance.now();
    const { host } = this.options;
    // One read of the boot per pass: no step changes it (a kexec ends the pass, and this process with it).
    const identity = await host.identity();
    let api: LuoApi;
    try {
      api = await host.luo.api();
    } catch (err) {
      if (!(err instanceof LuoBusyError)) throw err;
      return this.luoBusy(record, { identity, api: undefined }, err);
    }
    const boot: Boot = { identity, api };
    let journal: Journal | undefined;
    try {
      journal = await this.store.read();
    } catch (err) {
      if (!(err instanceof JournalCorruptError)) throw err;
      await this.publish(record, undefined, boot, { reason: 'JournalCorrupt', message: err.message });
      this.event(record, 'Warning', 'JournalCorrupt', 'Recover', err.message);
      return;
    }
    const spec = record.spec;
    const step = decide({
      request: { planUid: spec.planRef?.uid, attempt: spec.attempt, action: spec.action, ...(spec.executeBy ? { executeBy: spec.executeBy } : {}) },
      journal,
      bootId: boot.identity.bootId,
      api,
      processId: this.processId,
      now: Date.now(),
    });
    if (step.kind !== 'idle') this.log.info({ step: step.kind, action: spec.action, attempt: spec.attempt, phase: journal?.phase }, 'step');
    let next: Journal | undefined;
    try {
      next = await this.perform(step, record, journal, boot, seenAt);
    } catch (err) {
      if (err instanceof LuoBusyError) return this.luoBusy(record, boot, err, journal);
      if (!(err instanceof JournalWriteError)) throw err;
      // Said where the operator looks, for the key it asked about: a full or broken disk is not a silent agent.
      const key = spec.planRef ? { planUid: spec.planRef.uid, attempt: spec.attempt } : {};
      await this.publish(record, journal, boot, { reason: 'JournalWriteFailed', message: err.message, ...key });
      this.event(record, 'Warning', 'JournalWriteFailed', 'Journal', err.message);
      return { requeueAfterMs: this.idleMs };
    }
    if (this.finished) return;
    await this.publish(record, next, boot);
    // A withdrawn attempt is cancelled: the request that replaced it (a new Prepare, a Cancel) is answered at once.
    if (step.kind === 'withdrawn') return this.step(record);
    return { requeueAfterMs: isActive(next) ? this.heartbeatMs : this.idleMs };
  }

  private async perform(step: Step, record: LiveUpdateNode, journal: Journal | undefined, boot: Boot, seenAt: number): Promise<Journal | undefined> {
    const { spec } = record;
    const { identity } = boot;
    const dma = this.dmaReader();
    switch (step.kind) {
      case 'idle':
        return journal;
      case 'ignore': {
        const key = `${record.metadata.generation ?? 0}/${step.reason}`;
        if (key !== this.lastIgnored) this.event(record, 'Warning', step.reason, 'Ignore', step.message);
        this.lastIgnored = key;
        return journal;
      }
      case 'prepare': {
        const next = await this.actions.prepare(
          {
            planUid: spec.planRef!.uid,
            planName: spec.planRef!.name,
            attempt: spec.attempt,
            target: spec.target!,
            compatibleFrom: spec.compatibleFrom,
            preserve: spec.preserve.map((p) => p.bdf),
          },
          identity,
          // The new key is in the status before anything is touched: an operator that gives the node up meanwhile
          // waits for this attempt's Cancelled instead of taking the old status for "never started".
          (j) => this.publish(record, j, boot),
        );
        // Prepared is in the status: the event is for what went wrong.
        if (next.phase !== 'Prepared') this.event(record, 'Warning', next.lastError?.reason ?? 'PrepareFailed', 'Prepare', next.lastError?.message ?? 'prepare failed');
        return next;
      }
      case 'execute': {
        const { journal: next, rebooted } = await this.actions.execute(journal!, seenAt, (j) => this.publish(record, j, boot), dma);
        if (rebooted) {
          this.log.info({ kexecIssuedAt: next.kexecIssuedAt }, 'kexec issued: this boot is over');
          this.end({ kind: 'rebooted' });
          return next;
        }
        this.event(record, 'Warning', next.lastError?.reason ?? 'KexecRefused', 'Execute', next.lastError?.message ?? 'kexec refused');
        return next;
      }
      case 'verify': {
        const next = await this.actions.verify(journal!, identity, this.startedAt, dma);
        // Verified is in the status (and the operator's NodeSucceeded event on the Node): the event is for failures.
        if (next.phase !== 'Verified') this.event(record, 'Warning', next.lastError?.reason ?? 'VerificationFailed', 'Verify', next.lastError?.message ?? 'verification failed');
        return next;
      }
      case 'finish': {
        const next = await this.actions.finish(journal!);
        if (next.phase !== 'Finished') this.event(record, 'Warning', 'FinishFailed', 'Finish', next.lastError?.message ?? 'finish failed');
        return next;
      }
      case 'cancel': {
        const base: Journal = journal && journal.planUid === spec.planRef?.uid && journal.attempt === spec.attempt ? journal : this.emptyJournal(record, identity);
        const next = await this.actions.cancel(base);
        this.event(record, 'Normal', 'Cancelled', 'Cancel', `attempt ${next.attempt} cancelled: nothing stays prepared or loaded`);
        return next;
      }
      case 'withdrawn': {
        const next = await this.actions.cancel(journal!, { reason: 'Withdrawn', message: step.message });
        this.event(record, 'Normal', 'Withdrawn', 'Cancel', step.message);
        return next;
      }
      case 'expired': {
        const next = await this.actions.cancel(journal!, { reason: 'ExecuteExpired', message: step.message });
        this.event(record, 'Warning', 'ExecuteExpired', 'Execute', step.message);
        return next;
      }
      case 'refuse-cancel': {
        const next = await this.actions.refuseCancel(journal!);
        this.event(record, 'Warning', 'CancelRefused', 'Cancel', next.lastError!.message);
        return next;
      }
      case 'restarted-while-prepared': {
        const next = await this.actions.cancel(journal!, {
          reason: 'AgentRestarted',
          message: `the agent restarted while attempt ${journal!.attempt} was ${journal!.phase}: its LUO session died with the old process, so the update was cancelled (retry with a new attempt)`,
        });
        this.event(record, 'Warning', 'AgentRestarted', 'Recover', next.lastError!.message);
        return next;
      }
      case 'adopt':
        return this.actions.adopt(journal!);
      case 'kexec-interrupted': {
        const next = await this.actions.failInterruptedKexec(journal!);
        this.event(record, 'Warning', 'KexecInterrupted', 'Recover', next.lastError!.message);
        return next;
      }
    }
  }

  /** How soon an agent with nothing under way looks again (its inventory interval). */
  private get idleMs(): number {
    return this.options.inventoryIntervalMs ?? 30_000;
  }

  /** /dev/liveupdate held by another process: say so (the operator shows it), and try again later. */
  private async luoBusy(record: LiveUpdateNode, boot: Boot, err: LuoBusyError, journal?: Journal): Promise<{ requeueAfterMs: number }> {
    if (journal === undefined) journal = await this.store.read().catch(() => undefined);
    await this.publish(record, journal, boot, undefined, { reason: 'LuoBusy', message: err.message });
    this.event(record, 'Warning', 'LuoBusy', 'OpenLUO', err.message);
    return { requeueAfterMs: this.idleMs };
  }

  /** Publishes the status derived from what the agent knows; writes only what changed. */
  private async publish(record: LiveUpdateNode, journal: Journal | undefined, { identity, api }: Boot, journalError?: StatusInput['journalError'], luoError?: StatusInput['luoError']): Promise<void> {
    const { host } = this.options;
    const now = Date.now();
    const heartbeat = !this.reported || (isActive(journal) && now - this.lastHeartbeat >= this.heartbeatMs);
    const status = desiredStatus({
      previous: record.status,
      journal,
      identity,
      api,
      legacyState: api === 'legacy' ? await host.luo.state() : undefined,
      inventory: await host.inventory(),
      requested: record.spec.preserve.map((p) => p.bdf),
      version: AGENT_VERSION,
      heartbeat,
      now: new Date(now),
      journalError,
      luoError,
    });
    const wrote = await writeStatusIfChanged(this.resource, record, status);
    if (!wrote) this.log.debug('status unchanged: nothing written');
    // Our next reconcile must diff against what we just wrote, not the (older) cached copy.
    record.status = status;
    if (heartbeat) this.lastHeartbeat = now;
    if (!this.reported) {
      this.reported = true;
      this.log.info({ bootId: identity.bootId, release: identity.kernelRelease, phase: status.phase }, 'agent ready');
      this.options.onReady?.(identity.bootId);
    }
  }

  private async createRecord(): Promise<void> {
    try {
      await this.resource.create({ apiVersion: 'liveupdate.dev/v1alpha1', kind: 'LiveUpdateNode', metadata: { name: this.options.node }, spec: {} });
      this.log.info('created LiveUpdateNode');
    } catch (err) {
      if (!isConflict(err)) throw err; // AlreadyExists: the informer will deliver it
    }
  }

  private emptyJournal(record: LiveUpdateNode, identity: { bootId: string; kernelRelease: string }): Journal {
    return {
      version: 1,
      planUid: record.spec.planRef!.uid,
      planName: record.spec.planRef!.name,
      attempt: record.spec.attempt,
      phase: 'Cancelled',
      holder: this.processId,
      target: record.spec.target,
      preserve: record.spec.preserve.map((p) => p.bdf),
      closure: [],
      before: { bootId: identity.bootId, kernelRelease: identity.kernelRelease, busMaster: {} },
      timings: {},
      updatedAt: new Date().toISOString(),
    };
  }

  private dmaReader(): (() => Promise<DmaSample>) | undefined {
    const { host } = this.options;
    return host.dmaCounters ? () => host.dmaCounters!() : undefined;
  }

  private get heartbeatMs(): number {
    return this.options.heartbeatMs ?? 10_000;
  }

  private event(record: LiveUpdateNode, type: 'Normal' | 'Warning', reason: string, action: string, note: string): void {
    this.events.event({ apiVersion: record.apiVersion, kind: record.kind, name: record.metadata.name ?? this.options.node, uid: record.metadata.uid }, { type, reason, action, note });
  }

  private end(outcome: AgentExit): void {
    this.finished = true;
    this.exit(outcome);
  }
}
