// A simulated node. Its PCI tree is a fake sysfs written by writeSysfsTree and read back by the very Linux reader
// (readPciInventory / readBusMaster / readIdentity); only LUO and kexec are simulated, by SimKernel. Everything a
// reboot must survive lives on disk in the node's sim directory, because a simulated kexec is a restart of the
// agent process:
//   <dir>/sysfs/        fake sysfs (config space holds the real bus master bits)
//   <dir>/proc/         sys/kernel/random/boot_id, sys/kernel/osrelease, cmdline, and the fd links of fake VMMs
//   <dir>/images/       default directory of loadable kernel images (vmlinuz-<release>)
//   <dir>/state.json    kernel + LUO state (the KHO handover), loaded image, DMA counters, fired faults
//   <dir>/kmsg.log      kernel log lines in the seed's wording
// Writes to the fake sysfs trigger nothing, so where user space asks the kernel to act through sysfs (drivers_probe
// in bindVfio) the simulator plays the kernel's part.
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { KexecError, verifiedImage } from '../linux/kexec';
import { readIdentity } from '../linux/host';
import { mountOf } from '../linux/mounts';
import { sessionName } from '../linux/luo';
import { readBusMaster, readPciInventory } from '../linux/pci';
import { notPreservable, preservable, probeSessionName, probeWithoutSessions, VFIO_NOT_PRESERVABLE, VFIO_PRESERVABLE } from '../luo-probe';
import { deviceOpeners, LuoBusyError } from '../luo-busy';
import { bindVfioPci, VFIO_PCI } from '../pci/vfio-bind';
import type { AttemptKey, Bdf, DeviceProbe, DmaSample, Host, HostIdentity, Inventory, Kexec, KernelImage, Luo, LuoApi, LuoHandover, LuoLegacyState, Mount, PciDevice, ProbeResult } from '../types';
import { advanceDma, type DmaState } from './dma';
import { armedFaults, loadFaultFile, type Fault, type HostPhase } from './faults';
import { freshKernel, SimKernel, SimKernelError, type Errno, type SimKernelState, type SimLuoApi } from './kernel';
import { bindDriver, readDriverOverride, setBusMaster, unbindDriver, writeDriverOverride, writeSysfsTree } from './sysfs-tree';
import type { Topology } from './topology';

/** How the simulated kernel treats bridges above a preserved endpoint. */
export type BridgePreservation = 'auto' | 'explicit';

/** Who binds a preserved endpoint's driver after a mainline kexec. */
export type BindAfterKexec = 'kernel' | 'user-space';

export interface SimHostOptions {
  /** The node's sim directory; created on first open. */
  dir: string;
  /** Node name, for matching faults. */
  node: string;
  /** PCI tree, required on the first open (writes <dir>/sysfs); ignored afterwards. */
  topology?: Topology;
  /** First open only: LUO model of the simulated kernel. Default mainline. */
  api?: SimLuoApi;
  /** First open only: running kernel release. Default 6.19.0-sim. */
  release?: string;
  /**
   * First open only. auto (default): the kernel adds every bridge above a preserved endpoint, like the seed's PCI
   * core at prepare and the 2026 mainline PCI series. explicit: only the devices given to prepare are preserved.
   */
  bridges?: BridgePreservation;
  /**
   * First open only. Whether the simulated kernel can preserve VFIO devices; false models Linux 7.2.13, whose
   * PRESERVE_FD refuses a VFIO cdev with ENOENT (only memfd is preservable). Default true. A simulated kexec keeps
   * it: the simulator has one kernel series per node (like `bridges`), not per-release capabilities.
   */
  vfioPreservation?: boolean;
  /**
   * First open only; mainline model. kernel (default): preserved endpoints come back bound to vfio-pci, as the
   * seed's PCI core (the preserved driver name probes again). user-space: the newer series leave binding to user
   * space: preserved endpoints come back unbound (no driver link, no VFIO cdev, driver_override cleared) until
   * bindVfio(), and their fds cannot be retrieved before that. The legacy model always binds in the kernel.
   */
  bindAfterKexec?: BindAfterKexec;
  /** Default <dir>/images. */
  imageDir?: string;
  /** Fault file (see faults.ts), read again at every check. */
  faultFile?: string;
  /** Milliseconds; drives the DMA counters. Default Date.now. */
  clock?: () => number;
  /** Called once a simulated kexec is on disk: the caller restarts the agent (reopens the host). */
  onReboot?: () => void;
  /** Called at an injected agent crash. Default: SIGKILL this process. If it returns, the call rejects with SimAgentCrash. */
  onCrash?: (phase: HostPhase) => void;
}

interface SimHostState {
  bootId: string;
  release: string;
  boots: number;
  bridges: BridgePreservation;
  vfioPreservation: boolean;
  bindAfterKexec: BindAfterKexec;
  /** VFIO cdevs of endpoints the kexec left unbound: bindVfio gives each its own back, so the fake VMMs' fds still match. */
  vfioCdevs: Record<Bdf, string>;
  down: { reason: 'never-returns' | 'panic-on-boot' } | null;
  kernel: SimKernelState;
  legacyAttempt: AttemptKey | null;
  loaded: { release: string; sha256: string } | null;
  dma: DmaState | undefined;
  fired: Record<string, number>;
  /** Mainline sessions cancelled because the process holding them died (an agent crash before kexec). */
  implicitCancels: string[];
}

export class SimNodeDownError extends Error {
  constructor(readonly reason: string) {
    super(`the simulated node is down (${reason}): it never came back from kexec`);
    this.name = 'SimNodeDownError';
  }
}

export class SimAgentCrash extends Error {
  constructor(readonly phase: HostPhase) {
    super(`injected agent crash at ${phase}`);
    this.name = 'SimAgentCrash';
  }
}

/** Release of a kernel image from its file name: vmlinuz-6.19.2 -> 6.19.2. */
export function releaseOfImage(image: string): string {
  return path.basename(image).replace(/^(vmlinuz|vmlinux|bzImage|Image)-/, '');
}

/** The preserved set the kernel works with: the requested devices plus, in auto mode, every bridge above them. */
export function preservedClosure(devices: Pick<PciDevice, 'bdf' | 'upstream'>[], requested: Bdf[], mode: BridgePreservation): Bdf[] {
  if (mode === 'explicit') return [...new Set(requested)];
  const byBdf = new Map(devices.map((d) => [d.bdf, d]));
  return [...new Set(requested.flatMap((bdf) => [bdf, ...(byBdf.get(bdf)?.upstream ?? [])]))];
}

/**
 * Bus master after a kexec: kept only on preserved devices, and on a preserved endpoint only when every bridge
 * above it was preserved too (the kexec shut the others down). A bit that was clear stays clear.
 */
export function busMasterAfterKexec(devices: Pick<PciDevice, 'bdf' | 'bridge' | 'busMaster' | 'upstream'>[], preserved: Iterable<Bdf>): Map<Bdf, boolean> {
  const kept = new Set(preserved);
  return new Map(devices.map((d) => [d.bdf, d.busMaster && kept.has(d.bdf) && (d.bridge || d.upstream.every((u) => kept.has(u)))]));
}

/** After a firmware reset drivers re-probe: pcieport, nvme and nvidia enable bus mastering, vfio-pci waits for a VM. */
export function coldBootBusMaster(device: Pick<PciDevice, 'driver'>): boolean {
  return device.driver === 'pcieport' || device.driver === 'nvme' || device.driver === 'nvidia';
}

export class SimHost implements Host {
  readonly luo: Luo;
  readonly kexec: Kexec;
  readonly sysfsRoot: string;
  readonly procRoot: string;
  private dead: string | undefined;

  private constructor(
    private readonly options: SimHostOptions,
    private state: SimHostState,
    private holder: string,
  ) {
    this.sysfsRoot = path.join(options.dir, 'sysfs');
    this.procRoot = path.join(options.dir, 'proc');
    this.luo = new SimLuo(this);
    this.kexec = new SimKexec(this);
  }

  /** Opens (first time: creates) the node. Each open is one agent process: sessions of earlier ones are closed. */
  static async open(options: SimHostOptions): Promise<SimHost> {
    const stateFile = path.join(options.dir, 'state.json');
    let state = await readState(stateFile);
    if (!state) {
      if (!options.topology) throw new Error(`${options.dir}: new simulated node needs a topology`);
      state = {
        bootId: randomUUID(),
        release: options.release ?? '6.19.0-sim',
        boots: 1,
        bridges: options.bridges ?? 'auto',
        vfioPreservation: options.vfioPreservation ?? true,
        bindAfterKexec: options.bindAfterKexec ?? 'kernel',
        vfioCdevs: {},
        down: null,
        kernel: freshKernel(options.api ?? 'mainline'),
        legacyAttempt: null,
        loaded: null,
        dma: undefined,
        fired: {},
        implicitCancels: [],
      };
      const devices = await writeSysfsTree(options.topology, path.join(options.dir, 'sysfs'));
      await mkdir(options.imageDir ?? path.join(options.dir, 'images'), { recursive: true });
      await writeProc(options.dir, state);
      await writeMountInfo(options.dir);
      // One fake VMM holds the cdev of every vfio-pci device that is doing DMA: those devices are in use.
      await startVmms(options.dir, devices.filter((d) => d.vfioIndex !== null && d.busMaster).map((d) => d.vfioIndex!));
    }
    if (state.down) throw new SimNodeDownError(state.down.reason);
    const host = new SimHost(options, state, randomUUID());
    await host.holderDied();
    return host;
  }

  /**
   * The process holding the LUO fds died (the agent, or only its helper): the kernel closed its session fds, which
   * cancels each outgoing session and finishes each retrieved one (unrestored devices are discarded: reset, DMA
   * stops). From here a new holder — this.holder — makes the LUO calls.
   */
  private async holderDied(): Promise<void> {
    const { cancelled, finished } = this.kernel.dropSessionsNotHeldBy(this.holder);
    if (cancelled.length > 0) {
      this.state.implicitCancels.push(...cancelled);
      await this.log(`luo: session holder died, cancelled ${cancelled.join(', ')}`);
    }
    for (const { name, discarded } of finished)
      await this.log(`luo: retrieved session ${name} closed with its holder: finished${discarded.length ? `, discarded ${discarded.join(', ')}` : ''}`);
    const discarded = finished.flatMap((f) => f.discarded);
    if (discarded.length > 0) {
      await this.advanceDma();
      await this.setBusMasters(new Map(discarded.map((bdf) => [bdf, false])));
    }
    await this.persist();
  }

  async identity(): Promise<HostIdentity> {
    this.assertAlive();
    return readIdentity(this.procRoot);
  }

  async inventory(): Promise<Inventory> {
    this.assertAlive();
    return readPciInventory({ sysfsRoot: this.sysfsRoot, procRoot: this.procRoot });
  }

  async readBusMaster(bdf: Bdf): Promise<boolean> {
    this.assertAlive();
    return readBusMaster(this.sysfsRoot, bdf);
  }

  /** The Linux procedure; its drivers_probe is played here: the simulated kernel binds the overriding driver. */
  async bindVfio(bdf: Bdf): Promise<void> {
    this.assertAlive();
    await bindVfioPci(this.sysfsRoot, bdf, async (target) => {
      const driver = await readDriverOverride(this.sysfsRoot, target);
      if (driver === null || (await this.devices()).find((d) => d.bdf === target)?.driver) return;
      const cdev = driver === VFIO_PCI ? (this.state.vfioCdevs[target] ?? (await this.freeVfioCdev())) : undefined;
      await bindDriver(this.sysfsRoot, target, driver, cdev);
      delete this.state.vfioCdevs[target];
      await this.persist();
      await this.log(`${driver} ${target}: bound${cdev ? ` (VFIO device ${cdev})` : ''}`);
    });
  }

  /** From the fake <dir>/proc/self/mountinfo: one disk at /, unless a test mounts something over the state dir. */
  async mountOf(dir: string): Promise<Mount | undefined> {
    this.assertAlive();
    return mountOf(this.procRoot, dir);
  }

  /** DMA time (ms) each endpoint has done so far, advanced to now from the bus master bits in sysfs, and that instant. */
  async dmaCounters(): Promise<DmaSample> {
    await this.advanceDma();
    await this.persist();
    return { at: this.state.dma!.at, counters: { ...this.state.dma!.counters } };
  }

  /** Mainline sessions the kernel cancelled because their holder process died before kexec. */
  implicitCancels(): string[] {
    return [...this.state.implicitCancels];
  }

  bootCount(): number {
    return this.state.boots;
  }

  // ---- shared by SimLuo and SimKexec -----------------------------------------------------------------------

  get hostState(): SimHostState {
    return this.state;
  }

  get kernel(): SimKernel {
    return new SimKernel(this.state.kernel);
  }

  get imageDir(): string {
    return this.options.imageDir ?? path.join(this.options.dir, 'images');
  }

  assertAlive(): void {
    if (this.dead) throw new Error(`this simulated agent process is gone (${this.dead}); reopen the SimHost`);
  }

  async persist(): Promise<void> {
    const file = path.join(this.options.dir, 'state.json');
    await writeFile(`${file}.tmp`, JSON.stringify(this.state, null, 1));
    await rename(`${file}.tmp`, file);
  }

  async log(line: string): Promise<void> {
    await appendFile(path.join(this.options.dir, 'kmsg.log'), `[boot ${this.state.boots}] ${line}\n`);
  }

  /** The first armed fault of a kind matching `match`, counted as fired. */
  async takeFault<K extends Fault['kind']>(kind: K, match: (f: Extract<Fault, { kind: K }>) => boolean = () => true): Promise<Extract<Fault, { kind: K }> | undefined> {
    if (!this.options.faultFile) return undefined;
    const file = await loadFaultFile(this.options.faultFile);
    for (const armed of armedFaults(file, this.options.node, this.state.fired)) {
      if (armed.fault.kind !== kind) continue;
      const fault = armed.fault as Extract<Fault, { kind: K }>;
      if (!match(fault)) continue;
      this.state.fired[armed.id] = (this.state.fired[armed.id] ?? 0) + 1;
      await this.persist();
      return fault;
    }
    return undefined;
  }

  /** An injected agent crash: the process dies (its LUO sessions with it, seen at the next open). A slow-step fault delays the step first. */
  async crashPoint(phase: HostPhase, when: 'before' | 'after'): Promise<void> {
    this.assertAlive();
    const slow = when === 'before' ? await this.takeFault('slow-step', (f) => f.phase === phase) : undefined;
    if (slow) await new Promise((resolve) => setTimeout(resolve, slow.ms));
    if (phase === 'prepare' && when === 'after' && (await this.takeFault('helper-crash'))) {
      // Only the helper dies; like LuoHelper on Linux the next LUO call silently gets a new one.
      this.holder = randomUUID();
      await this.log('luo-helper died after prepare');
      await this.holderDied();
    }
    const fault = await this.takeFault('agent-crash', (f) => f.phase === phase && f.when === when);
    if (!fault) return;
    await this.log(`agent crashed ${when} ${phase}`);
    this.dead = `crashed at ${phase}`;
    (this.options.onCrash ?? (() => process.kill(process.pid, 'SIGKILL')))(phase);
    throw new SimAgentCrash(phase);
  }

  async devices(): Promise<PciDevice[]> {
    return (await readPciInventory({ sysfsRoot: this.sysfsRoot, procRoot: this.procRoot })).devices;
  }

  /** Advances the DMA counters to now; pass the devices when the caller has just read them. */
  async advanceDma(devices?: PciDevice[]): Promise<void> {
    this.state.dma = advanceDma(this.state.dma, devices ?? (await this.devices()), (this.options.clock ?? Date.now)());
  }

  /** The lowest vfio<N> neither a bound device nor an unbound preserved one holds, as the kernel's allocator. */
  private async freeVfioCdev(): Promise<string> {
    const taken = new Set([...(await this.devices()).map((d) => d.vfioDevice), ...Object.values(this.state.vfioCdevs)]);
    let n = 0;
    while (taken.has(`vfio${n}`)) n++;
    return `vfio${n}`;
  }

  /**
   * Drivers of the preserved endpoints in the new kernel: unbound when user space binds (mainline), and a
   * native-driver-after-kexec fault lets a native driver claim one (bus master untouched: the fault is the driver).
   */
  async driversAfterKexec(devices: PciDevice[], preserved: Bdf[]): Promise<void> {
    const endpoints = devices.filter((d) => !d.bridge && preserved.includes(d.bdf));
    for (const d of endpoints) {
      const native = await this.takeFault('native-driver-after-kexec', (f) => f.device === d.bdf);
      const unbind = native !== undefined || (this.state.kernel.api === 'mainline' && this.state.bindAfterKexec === 'user-space');
      if (!unbind) continue;
      // A new kernel starts without driver_override: it was a runtime setting of the old one.
      const cdev = await unbindDriver(this.sysfsRoot, d.bdf);
      await writeDriverOverride(this.sysfsRoot, d.bdf, null);
      if (native) {
        const driver = native.driver ?? nativeDriver(d);
        await bindDriver(this.sysfsRoot, d.bdf, driver);
        await this.log(`${driver} ${d.bdf}: bound after kexec (a native driver claimed the preserved device)`);
      } else if (cdev) {
        this.state.vfioCdevs[d.bdf] = cdev;
      }
    }
  }

  async setBusMasters(values: Map<Bdf, boolean>): Promise<void> {
    for (const [bdf, on] of values) await setBusMaster(this.sysfsRoot, bdf, on);
  }

  /** The reboot is on disk; this process is done. */
  async rebooted(outcome: string): Promise<void> {
    await this.persist();
    await writeProc(this.options.dir, this.state);
    this.dead = `rebooted: ${outcome}`;
    this.options.onReboot?.();
  }

  get holderId(): string {
    return this.holder;
  }

  get simDir(): string {
    return this.options.dir;
  }
}

/** The simulated kernel's LUO device, in the paths its fake /proc fd links name. */
const LUO_DEVICE = '/dev/liveupdate';

class SimLuo implements Luo {
  private detected = false;

  constructor(private readonly host: SimHost) {}

  /** Like Linux: the first call opens the device to tell the API, later ones answer from memory. */
  async api(): Promise<LuoApi> {
    this.host.assertAlive();
    const { api } = this.host.hostState.kernel;
    if (!this.detected && api !== 'none') await this.open();
    this.detected = true;
    return api;
  }

  /** One opener at a time: a fake process holding /dev/liveupdate in <dir>/proc/<pid>/fd makes every open EBUSY. */
  private async open(): Promise<void> {
    const pids = await deviceOpeners(this.host.procRoot, LUO_DEVICE);
    if (pids.length > 0) throw new LuoBusyError(LUO_DEVICE, pids);
  }

  async state(): Promise<LuoLegacyState | undefined> {
    this.host.assertAlive();
    const { kernel } = this.host.hostState;
    return kernel.api === 'legacy' ? kernel.legacy.state : undefined;
  }

  /** Mainline: the devices are preserved into a throwaway session, closed before anything is persisted. */
  async probe(devices: Bdf[]): Promise<ProbeResult> {
    this.host.assertAlive();
    const { api } = this.host.hostState.kernel;
    if (api !== 'mainline') return probeWithoutSessions(api, devices);
    await this.open();
    const byBdf = new Map((await this.host.devices()).map((d) => [d.bdf, d]));
    const kernel = this.host.kernel;
    const name = probeSessionName();
    kernel.createSession(name, this.host.holderId);
    try {
      return {
        api,
        devices: [...new Set(devices)].map((bdf): DeviceProbe => {
          const device = byBdf.get(bdf);
          if (!device) return notPreservable(bdf, 'no such PCI device');
          const refused = this.refusal(device);
          if (refused) return notPreservable(bdf, refused.why);
          try {
            kernel.preserve(name, bdf);
          } catch (err) {
            if (err instanceof SimKernelError) return notPreservable(bdf, err.message);
            throw err;
          }
          return preservable(bdf, device.bridge ? 'a bridge: no fd to preserve, the kernel keeps it with its endpoints' : VFIO_PRESERVABLE);
        }),
      };
    } finally {
      kernel.closeSession(name);
    }
  }

  /** Why mainline PRESERVE_FD refuses this device's fd, shared by probe and prepare; bridges are not fds. */
  private refusal(device: PciDevice): { errno: Errno; why: string } | undefined {
    if (device.bridge) return undefined;
    if (device.driver !== VFIO_PCI)
      return { errno: 'EINVAL', why: `not bound to vfio-pci (driver ${device.driver ?? 'none'}), no VFIO cdev to preserve` };
    if (!this.host.hostState.vfioPreservation) return { errno: 'ENOENT', why: VFIO_NOT_PRESERVABLE };
    return undefined;
  }

  async prepare(key: AttemptKey, devices: Bdf[]): Promise<void> {
    await this.host.crashPoint('prepare', 'before');
    const state = this.host.hostState;
    const kernel = this.host.kernel;
    const api = this.requireApi();
    await this.open();
    const inventory = await this.host.devices();
    const byBdf = new Map(inventory.map((d) => [d.bdf, d]));
    for (const bdf of devices) if (!byBdf.has(bdf)) throw new SimKernelError('ENODEV', `${bdf}: no such PCI device`);
    if (api === 'legacy' && state.kernel.legacy.state === 'prepared' && sameKey(state.legacyAttempt, key)) return;
    const list = preservedClosure(inventory, devices, state.bridges);

    const failing = await this.host.takeFault('prepare-error', (f) => devices.includes(f.device));
    if (api === 'legacy') {
      // A failing prepare callback makes the kernel cancel by itself: the state stays normal.
      if (failing) throw new SimKernelError(failing.errno, `${failing.device}: PCI liveupdate prepare failed`);
      kernel.legacyPrepare(list);
      state.legacyAttempt = key;
      for (const bdf of list) await this.host.log(`${bdf}: PCI liveupdate: collect liveupdate device: flags ${byBdf.get(bdf)?.bridge ? 2 : 1}`);
      await this.host.log('luo_core: Switched from [normal] to [prepared] state');
    } else {
      const name = sessionName(key);
      kernel.closeSession(name); // a half-done earlier try is redone whole
      kernel.createSession(name, this.host.holderId);
      try {
        if (failing) throw new SimKernelError(failing.errno, `${failing.device}: LIVEUPDATE_SESSION_PRESERVE_FD failed`);
        for (const bdf of list) {
          const refused = this.refusal(byBdf.get(bdf)!);
          if (refused) throw new SimKernelError(refused.errno, `${bdf}: not preservable: ${refused.why}`);
          kernel.preserve(name, bdf);
        }
      } catch (err) {
        kernel.closeSession(name);
        await this.host.persist();
        throw err;
      }
      await this.host.log(`luo: session ${name} preserves ${list.join(', ')}`);
    }
    await this.host.persist();
    await this.host.crashPoint('prepare', 'after');
  }

  async cancel(key: AttemptKey): Promise<void> {
    await this.host.crashPoint('cancel', 'before');
    const state = this.host.hostState;
    const api = this.requireApi();
    if (api === 'legacy') {
      const before = state.kernel.legacy.state;
      if (before === 'prepared' || before === 'frozen') {
        this.host.kernel.legacyCancel();
        await this.host.log(`luo_core: Switched from [${before}] to [normal] state`);
      }
      state.legacyAttempt = null;
    } else if (this.host.kernel.closeSession(sessionName(key))) {
      await this.host.log(`luo: session ${sessionName(key)} closed (cancel)`);
    }
    await this.host.persist();
    await this.host.crashPoint('cancel', 'after');
  }

  async checkHeld(key: AttemptKey): Promise<{ held: true } | { held: false; why: string }> {
    this.host.assertAlive();
    if (this.requireApi() === 'legacy') return { held: true };
    const name = sessionName(key);
    const session = this.host.hostState.kernel.mainline.outgoing[name];
    if (session?.holder === this.host.holderId) return { held: true };
    return { held: false, why: `session ${name} is no longer held: the process that created it died and the kernel cancelled it` };
  }

  async retrieve(retrieved?: (handover: LuoHandover) => Promise<void>): Promise<LuoHandover> {
    await this.host.crashPoint('retrieve', 'before');
    const { kernel } = this.host.hostState;
    if (kernel.api !== 'none') await this.open();
    const handover: LuoHandover = { sessions: [], devices: [] };
    if (kernel.api === 'legacy' && kernel.legacy.state === 'updated') {
      handover.sessions.push('legacy');
      handover.devices.push(...kernel.legacy.incoming);
    }
    if (kernel.api === 'mainline') {
      // Only a device on vfio-pci has a VFIO file to hand back: an unbound one is retrieved by a later call,
      // after bindVfio; one a native driver claimed never is.
      const byBdf = new Map((await this.host.devices()).map((d) => [d.bdf, d]));
      const sessions = Object.entries(kernel.mainline.incoming);
      for (const [name, session] of sessions) if (!session.retrieved) this.host.kernel.retrieveSession(name, this.host.holderId);
      await this.host.persist();
      await retrieved?.({ sessions: sessions.map(([name]) => name), devices: [] });
      for (const [name, session] of sessions) {
        for (const bdf of session.devices) {
          const device = byBdf.get(bdf);
          if (!session.restored.includes(bdf) && (device?.bridge || device?.driver === VFIO_PCI)) this.host.kernel.retrieveDevice(name, bdf);
        }
        handover.sessions.push(name);
        handover.devices.push(...session.restored);
      }
    }
    await this.host.persist();
    await this.host.crashPoint('retrieve', 'after');
    return { sessions: handover.sessions, devices: [...new Set(handover.devices)] };
  }

  async finish(key: AttemptKey): Promise<void> {
    await this.host.crashPoint('finish', 'before');
    const { kernel } = this.host.hostState;
    const api = this.requireApi();
    await this.open();
    const failing = await this.host.takeFault('finish-error');
    if (failing) throw new SimKernelError(failing.errno, 'finish failed; the preserved state stays until the next live update');
    let discarded: Bdf[] = [];
    if (api === 'legacy' && kernel.legacy.state === 'updated') {
      discarded = this.host.kernel.legacyFinish();
      await this.host.log('luo_core: Switched from [updated] to [normal] state');
    }
    const name = sessionName(key);
    if (api === 'mainline' && kernel.mainline.incoming[name]) {
      if (!kernel.mainline.incoming[name].retrieved) this.host.kernel.retrieveSession(name, this.host.holderId);
      discarded = this.host.kernel.finishSession(name);
      await this.host.log(`luo: session ${name} finished${discarded.length ? `, discarded ${discarded.join(', ')}` : ''}`);
    }
    // The kernel releases what nobody reclaimed: those devices are reset, their DMA stops.
    await this.host.advanceDma();
    await this.host.setBusMasters(new Map(discarded.map((bdf) => [bdf, false])));
    await this.host.persist();
    await this.host.crashPoint('finish', 'after');
  }

  private requireApi(): 'legacy' | 'mainline' {
    const { api } = this.host.hostState.kernel;
    if (api === 'none') throw new SimKernelError('ENOTTY', 'this simulated kernel has no Live Update Orchestrator (liveupdate=off)');
    return api;
  }
}

class SimKexec implements Kexec {
  constructor(private readonly host: SimHost) {}

  async load(image: KernelImage): Promise<void> {
    await this.host.crashPoint('load', 'before');
    const failing = await this.host.takeFault('kexec-load-error');
    if (failing) throw new KexecError(failing.message, 'KexecFailed');
    const { kernel, sha256 } = await verifiedImage(this.host.imageDir, image);
    this.host.hostState.loaded = { release: releaseOfImage(kernel), sha256 };
    await this.host.persist();
    await this.host.crashPoint('load', 'after');
  }

  async unload(): Promise<void> {
    this.host.assertAlive();
    this.host.hostState.loaded = null;
    await this.host.persist();
  }

  async execute(): Promise<void> {
    await this.host.crashPoint('execute', 'before');
    const state = this.host.hostState;
    if (!state.loaded) throw new KexecError('kexec -e: Nothing has been loaded!', 'KexecFailed');
    const refused = await this.host.takeFault('freeze-error');
    if (refused) {
      // A freeze callback failed inside reboot(KEXEC): the kernel cancels the live update and stays up (legacy:
      // everyone gets cancel; mainline: the sessions stay with their holder, who closes them).
      if (state.kernel.api === 'legacy') this.host.kernel.legacyCancel();
      await this.host.log(`reboot: kexec aborted, freeze failed (${refused.errno})`);
      await this.host.persist();
      throw new SimKernelError(refused.errno, `reboot(LINUX_REBOOT_CMD_KEXEC) failed: freeze returned ${refused.errno}; still on ${state.release}`);
    }
    const nextRelease = state.loaded.release;
    const devices = await this.host.devices();
    await this.host.advanceDma(devices);
    const preserved = this.host.kernel.kexec();
    const down = (await this.host.takeFault('never-returns')) ? 'never-returns' : (await this.host.takeFault('panic-on-boot')) ? 'panic-on-boot' : undefined;
    const cold = !down && (await this.host.takeFault('cold-reboot'));

    if (cold) {
      this.host.kernel.loseHandover();
      await this.host.setBusMasters(new Map(devices.map((d) => [d.bdf, coldBootBusMaster(d)])));
      await stopVmms(this.host.simDir);
    } else {
      await this.host.setBusMasters(busMasterAfterKexec(devices, preserved));
      if (!down) await this.host.driversAfterKexec(devices, preserved);
      const lost = down ? undefined : await this.host.takeFault('bus-master-lost');
      if (lost) await this.host.setBusMasters(new Map((lost.devices ?? preserved).map((bdf) => [bdf, false])));
    }
    state.loaded = null;
    if (down) {
      state.down = { reason: down };
      await this.host.log(down === 'panic-on-boot' ? 'Kernel panic - not syncing: VFS: Unable to mount root fs' : 'kexec: jumped to the new kernel; no sign of life');
      return this.host.rebooted(down);
    }
    if (!cold) state.release = nextRelease;
    state.bootId = randomUUID();
    state.boots += 1;
    state.legacyAttempt = cold ? null : state.legacyAttempt;
    for (const bdf of preserved) if (!cold) await this.host.log(`${bdf}: PCI liveupdate: liveupdate restore`);
    await this.host.log(cold ? 'firmware reset: cold boot into the old kernel' : `kexec: booted ${state.release}`);
    await this.host.rebooted(cold ? 'cold reboot' : 'kexec');
  }
}

function sameKey(a: AttemptKey | null, b: AttemptKey): boolean {
  return a !== null && a.planUid === b.planUid && a.node === b.node && a.attempt === b.attempt;
}

/** A default driver for native-driver-after-kexec without one: by PCI class. */
function nativeDriver(device: Pick<PciDevice, 'class'>): string {
  if (device.class.startsWith('0108')) return 'nvme';
  if (device.class.startsWith('03')) return 'nouveau';
  return 'pci-stub';
}

async function readState(file: string): Promise<SimHostState | undefined> {
  try {
    // Nodes created before a field existed get its default.
    const defaults = { vfioPreservation: true, bindAfterKexec: 'kernel', vfioCdevs: {} } satisfies Partial<SimHostState>;
    return { ...defaults, ...(JSON.parse(await readFile(file, 'utf8')) as SimHostState) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file}: unreadable simulated node state: ${(err as Error).message}`, { cause: err });
  }
}

async function writeProc(dir: string, state: SimHostState): Promise<void> {
  const kernelDir = path.join(dir, 'proc/sys/kernel');
  await mkdir(path.join(kernelDir, 'random'), { recursive: true });
  await writeFile(path.join(kernelDir, 'random/boot_id'), `${state.bootId}\n`);
  await writeFile(path.join(kernelDir, 'osrelease'), `${state.release}\n`);
  await writeFile(path.join(dir, 'proc/cmdline'), `BOOT_IMAGE=/vmlinuz-${state.release} root=/dev/sim ro intel_iommu=on iommu=pt liveupdate=on\n`);
}

/** The simulated machine's mounts: its disk at /. A line appended for a path puts that path on another file system. */
async function writeMountInfo(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'proc/self'), { recursive: true });
  await writeFile(path.join(dir, 'proc/self/mountinfo'), '21 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n');
}

const VMM_PID = '4242';

async function startVmms(dir: string, vfioIndexes: number[]): Promise<void> {
  if (vfioIndexes.length === 0) return;
  const fdDir = path.join(dir, 'proc', VMM_PID, 'fd');
  await mkdir(fdDir, { recursive: true });
  for (const [i, n] of vfioIndexes.entries()) await symlink(`/dev/vfio/devices/vfio${n}`, path.join(fdDir, String(20 + i)));
}

/** A cold reboot kills the VMs. */
async function stopVmms(dir: string): Promise<void> {
  await rm(path.join(dir, 'proc', VMM_PID), { recursive: true, force: true });
}
