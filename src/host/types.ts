// The agent's hands on a machine. Nothing above src/host knows whether it talks to a Linux host or the simulator.

import type { Bdf, Inventory } from '../pci/types';

// The PCI model lives below both the host layer and the operator; host code keeps importing it from here.
export type { Bdf, DeviceError, Inventory, PciDevice, PreservationEntry, PreservationFlag, PreservationPlan } from '../pci/types';

export interface HostIdentity {
  bootId: string;
  kernelRelease: string;
}

/** Which LUO user API the running kernel offers. */
export type LuoApi = 'mainline' | 'legacy' | 'none';

/** Legacy (LUO v2–v4) global states; the mainline session model has none and reports undefined. */
export type LuoLegacyState = 'normal' | 'prepared' | 'frozen' | 'updated';

export interface KernelImage {
  /** Host path to the kernel image; must lie under the configured image directory. */
  image: string;
  initrd?: string;
  sha256: string;
  /** Required with initrd: the initrd is verified like the image. */
  initrdSha256?: string;
  cmdline: { append: string[]; remove: string[]; reuse: boolean };
}

/** Opaque key of one live-update attempt (plan uid, node, attempt): used as the mainline session name. */
export interface AttemptKey {
  planUid: string;
  node: string;
  attempt: number;
}

export interface LuoHandover {
  /** Session names (mainline) or 'legacy' retrieved in the new kernel: empty means no LUO data arrived. */
  sessions: string[];
  /** Devices whose preservation was handed over. */
  devices: Bdf[];
  /**
   * Mainline Linux: the attempt keys read back from the memfd each attempt's session preserved. A key present is the
   * proof this boot is the live update of that attempt; absent means the boot was not (ColdRebooted). Left out
   * where the kernel API carries no such record (legacy, simulated hosts).
   */
  attemptKeys?: AttemptKey[];
}

/** Whether the running kernel can preserve one device, and why (DeviceProbe.reason is meant for a status message). */
export interface DeviceProbe {
  bdf: Bdf;
  preservable: boolean;
  /** e.g. "not preservable: the running kernel cannot preserve VFIO devices (PRESERVE_FD: ENOENT)". */
  reason: string;
}

export interface ProbeResult {
  api: LuoApi;
  /** One entry per distinct requested device, in request order. */
  devices: DeviceProbe[];
}

export interface Luo {
  api(): Promise<LuoApi>;
  /**
   * Can the running kernel preserve these devices? Answers what prepare() would do with each, without preparing:
   * mainline preserves each device's fd (the one prepare would take) into a throwaway session closed at once,
   * whatever happened; legacy has no per-device probe (its PCI core decides at prepare), so every device is
   * reported preservable; without LUO none is. Call it before prepare: a device already preserved in a held
   * session is refused (EBUSY). Rejects only when the probe session could not be created or closed cleanly.
   */
  probe(devices: Bdf[]): Promise<ProbeResult>;
  state(): Promise<LuoLegacyState | undefined>;
  /** Preserve the given devices for the attempt (mainline: create a session and preserve fds; legacy: prepare). */
  prepare(key: AttemptKey, devices: Bdf[]): Promise<void>;
  /** Undo prepare. Never fails in the kernel; idempotent here. */
  cancel(key: AttemptKey): Promise<void>;
  /**
   * Mainline: proof that the attempt's session is still held by the very holder process that prepared it (the same
   * helper pid, and the kernel names the session fd: GET_NAME). A holder that died took the session with it and the
   * kernel cancelled it, so a kexec would carry nothing. Legacy keeps its state in the kernel: always held.
   */
  checkHeld(key: AttemptKey): Promise<{ held: true } | { held: false; why: string }>;
  /**
   * After kexec: what the previous kernel handed over. A retrieved mainline session lives only as long as its holder
   * process, so `retrieved` is awaited as soon as the sessions (and their attempt keys) are in hand, before anything else:
   * the caller journals them there, and a restart after that point knows this boot was the live update.
   */
  retrieve(retrieved?: (handover: LuoHandover) => Promise<void>): Promise<LuoHandover>;
  /** Return to normal in the new kernel; unrestored preserved state is discarded. */
  finish(key: AttemptKey): Promise<void>;
}

export interface Kexec {
  /** Verify sha256, refuse paths outside the image directory, load with file-based semantics. */
  load(image: KernelImage): Promise<void>;
  unload(): Promise<void>;
  /** The point of no return: freeze and reboot into the loaded kernel. Rejects if the kernel refused (still old kernel). */
  execute(): Promise<void>;
}

/** A mounted file system, as /proc/self/mountinfo shows it. */
export interface Mount {
  mountPoint: string;
  /** e.g. ext4, xfs, tmpfs. */
  fsType: string;
}

/** DMA time (ms) per endpoint, and the clock instant (ms) the counters were advanced to. */
export interface DmaSample {
  at: number;
  counters: Record<Bdf, number>;
}

export interface Host {
  identity(): Promise<HostIdentity>;
  inventory(): Promise<Inventory>;
  readBusMaster(bdf: Bdf): Promise<boolean>;
  /**
   * Binds an unbound device to vfio-pci (driver_override, then drivers_probe): newer kernels leave driver binding
   * after kexec to user space. A no-op when already bound to vfio-pci. Never unbinds a driver: a device bound to
   * another (native) driver, or still not on vfio-pci after the probe, rejects with a VfioBindError
   * (src/host/pci/vfio-bind.ts) naming the BDF and the driver it has.
   */
  bindVfio(bdf: Bdf): Promise<void>;
  /** The mount a directory lives on (the agent's state must be on one that survives a kexec); undefined if unknown. */
  mountOf(dir: string): Promise<Mount | undefined>;
  /**
   * Simulated hosts only: DMA time (ms) each endpoint has done so far, so continuity through a kexec is measured,
   * not asserted. A real host cannot observe device DMA and leaves it out.
   */
  dmaCounters?(): Promise<DmaSample>;
  luo: Luo;
  kexec: Kexec;
}
