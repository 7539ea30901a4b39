// A simulated kernel's Live Update Orchestrator, both user APIs, as a state machine over plain JSON-able state
// (the simulated host persists it on disk; across a simulated kexec it plays the part of KHO memory).
//  legacy (LUO RFC v2-v4):  normal -prepare-> prepared -freeze-> frozen -kexec-> updated -finish-> normal,
//                           cancel: prepared | frozen -> normal. Illegal events fail the way the kernel's do.
//  mainline (6.19+):        named sessions holding preserved devices; closing a session before kexec cancels it,
//                           kexec turns outgoing sessions into incoming ones, finish releases a retrieved session
//                           and discards whatever was not retrieved from it.
import type { Bdf, LuoLegacyState } from '../types';

export type SimLuoApi = 'legacy' | 'mainline' | 'none';

/** errno names the real ioctls return for the same mistakes. */
export type Errno = 'EBUSY' | 'EINVAL' | 'ENOENT' | 'EEXIST' | 'ENOTTY' | 'EIO' | 'ENODEV';

export class SimKernelError extends Error {
  constructor(
    readonly errno: Errno,
    message: string,
  ) {
    super(`${errno}: ${message}`);
    this.name = 'SimKernelError';
  }
}

export interface IncomingSession {
  devices: Bdf[];
  retrieved: boolean;
  /** The process holding the retrieved session's fd: when it dies the kernel closes the fd, which finishes it. */
  holder?: string;
  restored: Bdf[];
}

/** What the death of session holders did: outgoing sessions cancelled, retrieved ones finished (and what that discarded). */
export interface HolderDeaths {
  cancelled: string[];
  finished: { name: string; discarded: Bdf[] }[];
}

export interface SimKernelState {
  api: SimLuoApi;
  legacy: {
    state: LuoLegacyState;
    /** Devices in the live-update list built at prepare (endpoints and the bridges above them). */
    prepared: Bdf[];
    /** Devices handed over by the previous kernel while `updated`. */
    incoming: Bdf[];
  };
  mainline: {
    /** Sessions created in this kernel, with the process holding their fd. */
    outgoing: Record<string, { holder: string; devices: Bdf[] }>;
    incoming: Record<string, IncomingSession>;
  };
}

export function freshKernel(api: SimLuoApi): SimKernelState {
  return { api, legacy: { state: 'normal', prepared: [], incoming: [] }, mainline: { outgoing: {}, incoming: {} } };
}

const SESSION_NAME = /^[A-Za-z0-9._:-]{1,63}$/;

export class SimKernel {
  constructor(readonly state: SimKernelState) {}

  // ---- legacy ----------------------------------------------------------------------------------------------

  legacyPrepare(devices: Bdf[]): void {
    this.require('legacy');
    const { legacy } = this.state;
    if (legacy.state !== 'normal') throw new SimKernelError('EBUSY', `prepare in state ${legacy.state}: a live update is already in progress`);
    legacy.prepared = unique(devices);
    legacy.state = 'prepared';
  }

  /** Cancel never fails before kexec; in normal it has nothing to do. After kexec there is nothing left to cancel. */
  legacyCancel(): void {
    this.require('legacy');
    const { legacy } = this.state;
    if (legacy.state === 'updated') throw new SimKernelError('EINVAL', 'cancel in state updated: the kexec already happened; finish instead');
    legacy.state = 'normal';
    legacy.prepared = [];
  }

  legacyFreeze(): void {
    this.require('legacy');
    const { legacy } = this.state;
    if (legacy.state !== 'prepared') throw new SimKernelError('EINVAL', `freeze in state ${legacy.state}: only a prepared live update can freeze`);
    legacy.state = 'frozen';
  }

  legacyFinish(): Bdf[] {
    this.require('legacy');
    const { legacy } = this.state;
    if (legacy.state !== 'updated') throw new SimKernelError('EINVAL', `finish in state ${legacy.state}: only an updated kernel can finish`);
    // The PCI core restored every listed device at enumeration: nothing left unclaimed to discard.
    legacy.state = 'normal';
    legacy.incoming = [];
    return [];
  }

  // ---- mainline --------------------------------------------------------------------------------------------

  createSession(name: string, holder: string): void {
    this.require('mainline');
    if (!SESSION_NAME.test(name)) throw new SimKernelError('EINVAL', `session name "${name}" is empty, too long or has characters outside [A-Za-z0-9._:-]`);
    if (this.state.mainline.outgoing[name] || this.state.mainline.incoming[name])
      throw new SimKernelError('EEXIST', `session ${name} already exists`);
    this.state.mainline.outgoing[name] = { holder, devices: [] };
  }

  preserve(name: string, device: Bdf): void {
    this.require('mainline');
    const session = this.state.mainline.outgoing[name];
    if (!session) throw new SimKernelError('ENOENT', `no outgoing session ${name}`);
    for (const [other, s] of Object.entries(this.state.mainline.outgoing))
      if (s.devices.includes(device)) throw new SimKernelError('EBUSY', `${device} is already preserved in session ${other}`);
    session.devices.push(device);
  }

  /** Closing the session fd: the outgoing session and its preservations are dropped. Never fails. */
  closeSession(name: string): boolean {
    this.require('mainline');
    const held = name in this.state.mainline.outgoing;
    delete this.state.mainline.outgoing[name];
    return held;
  }

  /**
   * A dead holder process closes its fds: every outgoing session it held is cancelled, and every session it had
   * retrieved is finished (a retrieved session is gone once its fd closes), discarding what it had not restored.
   */
  dropSessionsNotHeldBy(holder: string): HolderDeaths {
    const { mainline } = this.state;
    const cancelled = Object.entries(mainline.outgoing)
      .filter(([, s]) => s.holder !== holder)
      .map(([name]) => name);
    for (const name of cancelled) delete mainline.outgoing[name];
    const finished = Object.entries(mainline.incoming)
      .filter(([, s]) => s.retrieved && s.holder !== holder)
      .map(([name, s]) => ({ name, discarded: s.devices.filter((d) => !s.restored.includes(d)) }));
    for (const { name } of finished) delete mainline.incoming[name];
    return { cancelled, finished };
  }

  retrieveSession(name: string, holder: string): IncomingSession {
    this.require('mainline');
    const session = this.state.mainline.incoming[name];
    if (!session) throw new SimKernelError('ENOENT', `no incoming session ${name}`);
    if (session.retrieved) throw new SimKernelError('EBUSY', `session ${name} was already retrieved`);
    session.retrieved = true;
    session.holder = holder;
    return session;
  }

  retrieveDevice(name: string, device: Bdf): void {
    this.require('mainline');
    const session = this.state.mainline.incoming[name];
    if (!session?.retrieved) throw new SimKernelError('ENOENT', `session ${name} is not retrieved`);
    if (!session.devices.includes(device)) throw new SimKernelError('ENOENT', `no preserved token for ${device} in session ${name}`);
    if (session.restored.includes(device)) throw new SimKernelError('EINVAL', `${device} was already retrieved`);
    session.restored.push(device);
  }

  /** Releases a retrieved session; returns the preserved devices nobody retrieved, which the kernel now discards. */
  finishSession(name: string): Bdf[] {
    this.require('mainline');
    const session = this.state.mainline.incoming[name];
    if (!session?.retrieved) throw new SimKernelError('ENOENT', `session ${name} is not retrieved`);
    delete this.state.mainline.incoming[name];
    return session.devices.filter((d) => !session.restored.includes(d));
  }

  // ---- kexec -----------------------------------------------------------------------------------------------

  /**
   * What reboot(LINUX_REBOOT_CMD_KEXEC) preserves, after freeze: legacy hands over the prepared list (a kexec in
   * normal state carries nothing); mainline hands over every outgoing session. Returns the preserved devices and
   * leaves the state as the next kernel will find it.
   */
  kexec(): Bdf[] {
    if (this.state.api === 'legacy') {
      const { legacy } = this.state;
      if (legacy.state === 'prepared') this.legacyFreeze();
      const frozen = legacy.state === 'frozen';
      const handed = frozen ? legacy.prepared : [];
      this.state.legacy = { state: frozen ? 'updated' : 'normal', prepared: [], incoming: handed };
      return handed;
    }
    if (this.state.api === 'mainline') {
      const incoming: Record<string, IncomingSession> = {};
      for (const [name, s] of Object.entries(this.state.mainline.outgoing)) incoming[name] = { devices: s.devices, retrieved: false, restored: [] };
      this.state.mainline = { outgoing: {}, incoming };
      return unique(Object.values(incoming).flatMap((s) => s.devices));
    }
    return [];
  }

  /** A cold boot (or a boot of a kernel without LUO data): everything the old kernel preserved is gone. */
  loseHandover(): void {
    this.state.legacy = { state: 'normal', prepared: [], incoming: [] };
    this.state.mainline = { outgoing: {}, incoming: {} };
  }

  private require(api: SimLuoApi): void {
    if (this.state.api !== api)
      throw new SimKernelError('ENOTTY', `this simulated kernel offers the ${this.state.api} LUO API, not ${api}`);
  }
}

function unique(devices: Bdf[]): Bdf[] {
  return [...new Set(devices)];
}
