// What each step of the phase machine does to the machine, through the Host interface only. Every step ends with a
// journal written to disk; any failure before the point of no return undoes what was done (LUO cancel, kexec unload).
import { releaseMatches, type KernelTarget } from '../api/fields';
import { KexecError } from '../host/linux/kexec';
import { LuoBusyError } from '../host/luo-busy';
import { planPreservation } from '../pci/preservation';
import type { AttemptKey, Bdf, DmaSample, Host, HostIdentity, LuoHandover } from '../host/types';
import type { Logger } from '../kube/log';
import { VOLATILE_FILE_SYSTEMS } from '../host/linux/mounts';
import type { Journal, JournalStore } from './journal';

/** Reasons a step can fail with: a fixed list, so the operator and dashboards can switch on them. */
export type FailureReason =
  | 'NoLUO'
  | 'IncompatibleKernel'
  | 'DeviceNotReady'
  | 'NotPreservable'
  | 'ImageInvalid'
  | 'KexecLoadFailed'
  | 'PrepareFailed'
  | 'KexecRefused'
  | 'KexecInterrupted'
  | 'ColdRebooted'
  | 'WrongKernel'
  | 'NoHandover'
  | 'DMALost'
  | 'DriverChanged'
  | 'FinishFailed'
  | 'JournalCorrupt'
  /** The LUO session holder (luo-helper) died while Prepared: the kernel cancelled the session, so no kexec. */
  | 'HelperLost'
  /** /dev/liveupdate is held by another process (it has one opener). */
  | 'LuoBusy'
  /** The agent's state directory is on a file system a kexec empties (tmpfs, ramfs): its journal would not survive. */
  | 'StateDirNotDurable';

export class StepFailure extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'StepFailure';
  }
}

/** The request fields a step needs (from the LiveUpdateNode spec). */
export interface PrepareRequest {
  planUid: string;
  planName: string;
  attempt: number;
  target: KernelTarget;
  compatibleFrom?: string[];
  preserve: Bdf[];
}

/** Simulated hosts measure DMA; a real one cannot (undefined). */
type DmaReader = () => Promise<DmaSample>;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class NodeActions {
  constructor(
    private readonly host: Host,
    private readonly store: JournalStore,
    private readonly node: string,
    private readonly processId: string,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  key(journal: Pick<Journal, 'planUid' | 'attempt'>): AttemptKey {
    return { planUid: journal.planUid, node: this.node, attempt: journal.attempt };
  }

  private async save(journal: Journal): Promise<Journal> {
    const next = { ...journal, holder: this.processId, updatedAt: this.now().toISOString() };
    await this.store.write(next);
    return next;
  }

  /**
   * Journal Preparing for the new key and `announce` it (the status write), then preflight, kexec load, LUO prepare.
   * Resolves with the journal (Prepared, or Failed with nothing left behind).
   */
  async prepare(request: PrepareRequest, identity: HostIdentity, announce: (j: Journal) => Promise<void>): Promise<Journal> {
    const started = performance.now();
    let journal: Journal = {
      version: 1,
      planUid: request.planUid,
      planName: request.planName,
      attempt: request.attempt,
      phase: 'Preparing',
      holder: this.processId,
      target: request.target,
      preserve: request.preserve,
      closure: [],
      before: { bootId: identity.bootId, kernelRelease: identity.kernelRelease, busMaster: {} },
      timings: {},
      updatedAt: this.now().toISOString(),
    };
    const fail = (reason: FailureReason, text: string) =>
      this.save({ ...journal, phase: 'Failed', lastError: { reason, message: text }, timings: { prepareMs: performance.now() - started } });
    journal = await this.save(journal);
    await announce(journal);

    // Preflight: nothing is touched until every check passed.
    const mount = await this.host.mountOf(this.store.dir);
    if (mount && VOLATILE_FILE_SYSTEMS.has(mount.fsType))
      return fail(
        'StateDirNotDurable',
        `${this.node}: the agent's state directory ${this.store.dir} is on ${mount.fsType} (mounted at ${mount.mountPoint}), which the kexec empties: the journal would not survive it; give the agent a disk-backed state directory (hostPath /var/lib/liveupdate-agent)`,
      );
    if ((await this.host.luo.api()) === 'none') return fail('NoLUO', `${this.node}: the running kernel ${identity.kernelRelease} has no Live Update Orchestrator (boot it with liveupdate=on)`);
    if (request.compatibleFrom && !releaseMatches(identity.kernelRelease, request.compatibleFrom))
      return fail('IncompatibleKernel', `${this.node}: running release ${identity.kernelRelease} matches none of compatibleFrom [${request.compatibleFrom.join(', ')}]`);
    const inventory = await this.host.inventory();
    const plan = planPreservation(inventory, { bdfs: request.preserve });
    if (plan.errors.length > 0) return fail('DeviceNotReady', plan.errors.map((e) => `${e.bdf}: ${e.message}`).join('; '));
    const endpoints = plan.preserve.filter((p) => p.flags.includes('busmaster')).map((p) => p.bdf);
    let probe;
    try {
      probe = await this.host.luo.probe(endpoints);
    } catch (err) {
      if (err instanceof LuoBusyError) return fail('LuoBusy', `${this.node}: ${err.message}`);
      throw err;
    }
    const refused = probe.devices.filter((d) => !d.preservable);
    if (refused.length > 0) return fail('NotPreservable', refused.map((d) => `${d.bdf}: ${d.reason}`).join('; '));

    journal = await this.save({ ...journal, closure: plan.preserve.map(({ bdf, flags }) => ({ bdf, flags })) });
    try {
      const { image, initrd, sha256, initrdSha256, cmdline } = request.target;
      await this.host.kexec.load({ image, initrd, sha256, initrdSha256, cmdline });
    } catch (err) {
      await this.host.kexec.unload().catch(() => undefined);
      const invalid = err instanceof KexecError && (err.reason === 'ChecksumMismatch' || err.reason === 'OutsideImageDir');
      return fail(invalid ? 'ImageInvalid' : 'KexecLoadFailed', `${request.target.image}${request.target.initrd ? ` (initrd ${request.target.initrd})` : ''}: ${message(err)}`);
    }
    try {
      await this.host.luo.prepare(this.key(journal), journal.closure.map((c) => c.bdf));
    } catch (err) {
      const left = await this.undo(journal);
      return fail(err instanceof LuoBusyError ? 'LuoBusy' : 'PrepareFailed', `LUO prepare of ${endpoints.join(', ')}: ${message(err)}${left ? `; ${left}` : ''}`);
    }
    try {
      return await this.save({ ...journal, phase: 'Prepared', timings: { prepareMs: performance.now() - started } });
    } catch (err) {
      // Prepared must never be held without the journal saying so: a Prepared state nobody can find again.
      await this.undo(journal);
      throw err;
    }
  }

  /**
   * The point of no return: prove the LUO session is still held, journal Executing with kexecIssuedAt (fsync),
   * `announce` it (the status write), then kexec. Resolves only if the session was lost (Cancelled, HelperLost) or the
   * kernel refused (the old kernel still runs, LUO cancelled) — or, simulated, after the reboot.
   */
  async execute(journal: Journal, seenAt: number, announce: (j: Journal) => Promise<void>, dma?: DmaReader): Promise<{ journal: Journal; rebooted: boolean }> {
    if (journal.phase !== 'Prepared' && journal.phase !== 'Executing') throw new Error(`execute needs a Prepared journal, found ${journal.phase}`);
    // A holder that died took the session with it: a kexec now would carry nothing and come back ColdRebooted.
    const held = await this.host.luo.checkHeld(this.key(journal));
    if (!held.held) {
      this.log.error({ why: held.why }, 'the LUO session is gone: no kexec');
      const lost = { reason: 'HelperLost', message: `${this.node}: kexec not issued, nothing would survive it: ${held.why}; the update was called off (retry with a new attempt)` };
      // Committed already (a failed announce, retried) is past kexecIssuedAt: that ends Failed, never Cancelled.
      if (journal.phase === 'Executing') {
        await this.undo(journal);
        return { journal: await this.save({ ...journal, phase: 'Failed', lastError: lost }), rebooted: false };
      }
      return { journal: await this.cancel(journal, lost), rebooted: false };
    }
    let committed = journal;
    if (journal.phase === 'Prepared') {
      const busMaster: Record<Bdf, boolean> = {};
      for (const { bdf } of journal.closure) busMaster[bdf] = await this.host.readBusMaster(bdf);
      const before = { ...journal.before, busMaster, ...(dma ? { dma: await dma() } : {}) };
      const kexecIssuedAt = this.now().toISOString();
      committed = await this.save({ ...journal, phase: 'Executing', before, kexecIssuedAt, timings: { ...journal.timings, kexecMs: performance.now() - seenAt } });
    }
    await announce(committed);
    try {
      await this.host.kexec.execute();
    } catch (err) {
      if (err instanceof Error && err.name === 'SimAgentCrash') throw err;
      this.log.error({ err: message(err) }, 'the kernel refused kexec: cancelling the live update, the old kernel keeps running');
      const left = await this.undo(committed);
      const failed = await this.save({ ...committed, phase: 'Failed', lastError: { reason: 'KexecRefused', message: `reboot(KEXEC) failed, still on ${committed.before.kernelRelease}: ${message(err)}${left ? `; ${left}` : ''}` } });
      return { journal: failed, rebooted: false };
    }
    return { journal: committed, rebooted: true };
  }

  /** After a boot that followed kexec: what came back, device by device. */
  async verify(journal: Journal, identity: HostIdentity, bootedAt: number | undefined, dma?: DmaReader): Promise<Journal> {
    const started = performance.now();
    const kexecAt = journal.kexecIssuedAt ? Date.parse(journal.kexecIssuedAt) : Date.now();
    const blackoutMs = Math.max(0, (bootedAt ?? Date.now()) - kexecAt);
    const timings = { ...journal.timings, blackoutMs };
    const fail = (reason: FailureReason, text: string, extra: Partial<Journal> = {}) =>
      this.save({ ...journal, ...extra, phase: 'Failed', timings: { ...timings, verifyMs: performance.now() - started }, lastError: { reason, message: text } });

    if (identity.kernelRelease === journal.before.kernelRelease && identity.kernelRelease !== journal.target?.release)
      return fail('ColdRebooted', `${this.node} came back on the old kernel ${identity.kernelRelease} with a new boot id: the machine was reset, preserved state is gone`);
    if (identity.kernelRelease !== journal.target?.release)
      return fail('WrongKernel', `${this.node} runs ${identity.kernelRelease}, expected ${journal.target?.release ?? '(no target)'}`);
    journal = await this.save({ ...journal, phase: 'Rebooted', timings });

    // Newer kernels leave binding to user space: a preserved endpoint goes back on vfio-pci before its state is
    // retrieved (the kernel hands over only what a vfio-pci device can take, and finish discards the rest).
    const problems: { reason: FailureReason; text: string }[] = [];
    let inventory = await this.host.inventory();
    for (const { bdf, flags } of journal.closure) {
      const device = inventory.devices.find((d) => d.bdf === bdf);
      if (!flags.includes('busmaster') || !device || device.driver !== null) continue;
      try {
        await this.host.bindVfio(bdf);
      } catch (err) {
        problems.push({ reason: 'DriverChanged', text: `${bdf}: ${message(err)}` });
      }
    }
    const handover = await this.retrieve(journal, (j) => (journal = j));
    const key = this.key(journal);
    if (handover.attemptKeys && !handover.attemptKeys.some((k) => k.planUid === key.planUid && k.node === key.node && k.attempt === key.attempt))
      return fail('ColdRebooted', `${this.node} booted ${identity.kernelRelease} with a new boot id but the attempt key preserved in its LUO session did not come back: this boot was not a live update, preserved state is gone`);
    if (handover.sessions.length === 0)
      return fail('NoHandover', `${this.node} booted ${identity.kernelRelease} but no LUO data was handed over (KHO / liveupdate=on missing?)`);

    inventory = await this.host.inventory();
    // The host stamps each sample with the instant its counters describe: no read or disk latency skews the comparison.
    const after = dma ? await dma() : undefined;
    const verification: NonNullable<Journal['verification']> = [];
    for (const { bdf, flags } of journal.closure) {
      const device = inventory.devices.find((d) => d.bdf === bdf);
      const endpoint = flags.includes('busmaster');
      const busMasterBefore = journal.before.busMaster[bdf] ?? true;
      const busMasterAfter = device?.busMaster ?? false;
      const entry: NonNullable<Journal['verification']>[number] = { bdf, busMasterBefore, busMasterAfter };
      if (device?.driver) entry.driverAfter = device.driver;
      if (!device) problems.push({ reason: 'DMALost', text: `${bdf}: gone after kexec` });
      else if (busMasterBefore && !busMasterAfter) problems.push({ reason: 'DMALost', text: `${bdf}: bus master cleared by the kexec${endpoint ? '' : ' (a bridge: DMA below it stopped)'}` });
      if (endpoint && device?.driver && device.driver !== 'vfio-pci') problems.push({ reason: 'DriverChanged', text: `${bdf}: bound to ${device.driver} after kexec, not vfio-pci` });
      if (endpoint && after && journal.before.dma) {
        // DMA time must have advanced for the whole interval: a stop of even a moment shows as a shortfall.
        const elapsed = after.at - journal.before.dma.at;
        const advanced = (after.counters[bdf] ?? 0) - (journal.before.dma.counters[bdf] ?? 0);
        entry.dmaContinuous = advanced >= elapsed;
        if (!entry.dmaContinuous) problems.push({ reason: 'DMALost', text: `${bdf}: DMA ran ${Math.round(advanced)} ms of ${Math.round(elapsed)} ms through the kexec` });
      }
      verification.push(entry);
    }
    if (problems.length > 0) {
      const first = problems[0]!;
      return fail(first.reason, problems.map((p) => p.text).join('; '), { verification });
    }
    return this.save({ ...journal, phase: 'Verified', verification, timings: { ...timings, verifyMs: performance.now() - started } });
  }

  /**
   * The handover, journalled as soon as the kernel gave it (before a crash can lose the retrieved sessions), merged
   * with what an earlier process of this boot journalled: its sessions closed with it, so only the journal has them.
   */
  private async retrieve(journal: Journal, saved: (j: Journal) => void): Promise<LuoHandover> {
    const earlier = journal.handover;
    const merge = (h: LuoHandover): LuoHandover => {
      if (!earlier) return h;
      const sessions = [...new Set([...earlier.sessions, ...h.sessions])];
      const keys = h.attemptKeys || earlier.attemptKeys ? [...(earlier.attemptKeys ?? []), ...(h.attemptKeys ?? [])] : undefined;
      return { ...h, sessions, ...(keys ? { attemptKeys: keys } : {}) };
    };
    const handover = merge(
      await this.host.luo.retrieve(async (got) => {
        const { sessions, attemptKeys } = merge(got);
        saved(await this.save({ ...journal, handover: { sessions, ...(attemptKeys ? { attemptKeys } : {}) } }));
      }),
    );
    return handover;
  }

  async finish(journal: Journal): Promise<Journal> {
    const started = performance.now();
    try {
      await this.host.luo.finish(this.key(journal));
    } catch (err) {
      return this.save({ ...journal, phase: 'Failed', lastError: { reason: 'FinishFailed', message: `LUO finish: ${message(err)}` }, timings: { ...journal.timings, finishMs: performance.now() - started } });
    }
    return this.save({ ...journal, phase: 'Finished', timings: { ...journal.timings, finishMs: performance.now() - started } });
  }

  /** Cancel before the point of no return; a cancel of an attempt never prepared still records Cancelled for its key. */
  async cancel(journal: Journal, reason?: { reason: string; message: string }): Promise<Journal> {
    const left = await this.undo(journal);
    const cancelled: Journal = { ...journal, phase: 'Cancelled' };
    if (reason) cancelled.lastError = left ? { ...reason, message: `${reason.message}; ${left}` } : reason;
    else if (left) cancelled.lastError = { reason: 'KexecStillLoaded', message: left };
    else delete cancelled.lastError;
    return this.save(cancelled);
  }

  /** Legacy LUO survives the agent: keep the Prepared state if the kernel still holds it. */
  async adopt(journal: Journal): Promise<Journal> {
    if ((await this.host.luo.state()) === 'prepared') return this.save(journal);
    return this.cancel(journal, { reason: 'AgentRestarted', message: 'the agent restarted and the kernel no longer holds the prepared state' });
  }

  async failInterruptedKexec(journal: Journal): Promise<Journal> {
    const left = await this.undo(journal);
    return this.save({
      ...journal,
      phase: 'Failed',
      lastError: {
        reason: 'KexecInterrupted',
        message: `the agent restarted after committing to kexec at ${journal.kexecIssuedAt ?? '?'} but the machine never rebooted (same boot id); LUO state cancelled, ${journal.before.kernelRelease} keeps running${left ? `; ${left}` : ''}`,
      },
    });
  }

  async refuseCancel(journal: Journal): Promise<Journal> {
    return this.save({
      ...journal,
      lastError: { reason: 'PastPointOfNoReturn', message: `Cancel refused: kexec was issued at ${journal.kexecIssuedAt ?? '?'}; only Verified / Finished or Failed from here` },
    });
  }

  /**
   * LUO cancel and kexec unload; both are idempotent and neither may stop the other. Resolves with what the unload
   * left behind (a kernel still staged would be booted by the next `kexec -e`), for the caller's lastError.
   */
  private async undo(journal: Journal): Promise<string | undefined> {
    if ((await this.host.luo.api()) !== 'none') {
      await this.host.luo.cancel(this.key(journal)).catch((err: unknown) => {
        if (err instanceof Error && err.name === 'SimAgentCrash') throw err;
        this.log.error({ err: message(err) }, 'LUO cancel failed');
      });
    }
    try {
      await this.host.kexec.unload();
      return undefined;
    } catch (err) {
      this.log.error({ err: message(err) }, 'kexec unload failed');
      return `kexec unload: ${message(err)}`;
    }
  }
}
