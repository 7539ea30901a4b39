// The Live Update Orchestrator of a real Linux kernel, both user APIs:
//  - legacy (LUO RFC v2-v4, the PCI phase I seed's era): one global state in <sysfs>/kernel/liveupdate/state,
//    event ioctls prepare / freeze / cancel / finish on /dev/liveupdate. Devices are marked for live update by
//    their driver in the kernel; user space only drives the global state.
//  - mainline (Linux 6.19+): no global state; a named session per attempt holds the preserved fds (VFIO cdev of
//    each device); cancel = close the session fd; finish per session in the new kernel.
// The ioctls go through native/luo-helper, which stays alive holding the session fds until kexec. /dev/liveupdate has
// one opener (PID 1 needs it at boot and in shutdown), so the helper runs only while an attempt holds a session, or
// for the one call that needs it: every other path ends with release().
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { notPreservable, preservable, probeSessionName, probeWithoutSessions, VFIO_NOT_PRESERVABLE, VFIO_PRESERVABLE } from '../luo-probe';
import { deviceOpeners, LuoBusyError } from '../luo-busy';
import { isBdf, parseBdf } from '../../pci/bdf';
import { scanOpenVfioFiles, type FdHolder } from '../pci/in-use';
import { linkName, readAttribute, readVfioDevice } from '../pci/sysfs-read';
import { isBridgeClass, parseClass } from '../pci/sysfs-values';
import type { AttemptKey, Bdf, DeviceProbe, Luo, LuoApi, LuoHandover, LuoLegacyState, ProbeResult } from '../types';
import { LIVEUPDATE_SESSION_NAME_LENGTH } from './luo-abi';
import { defaultHelperPath, LuoCallError, LuoHelper, type HelperReply } from './luo-helper';

export interface LinuxLuoOptions {
  /** Default /sys. */
  sysfsRoot?: string;
  /** Default /proc: where the VMM holding a device's VFIO cdev is found. */
  procRoot?: string;
  /** Default /dev: /dev/liveupdate and /dev/vfio/devices/vfio<N>. */
  devRoot?: string;
  /** Survives kexec: which sessions and tokens the new kernel must retrieve. Default /var/lib/liveupdate-agent/luo. */
  stateDir?: string;
  /** Default native/build/luo-helper (or $LIVEUPDATE_LUO_HELPER). */
  helperPath?: string;
}

/** What the old kernel's agent wrote down before kexec, for retrieve() and finish() in the new kernel. */
interface AttemptRecord {
  key: AttemptKey;
  api: 'mainline' | 'legacy';
  session: string;
  tokens: Record<Bdf, string>;
}

/** One device's PRESERVE_FD into a session: its token, or the errno and why it was refused. */
type Preserved = { token: string } | Refusal;
type Refusal = { errno: string; why: string };

/** Why a device a VMM drives through the group/container API is not preserved (and no other file of it is). */
function groupModeRefusal(holder: FdHolder): Refusal {
  return {
    errno: 'EOPNOTSUPP',
    why:
      `held by pid ${holder.pid} (fd ${holder.fd}) through the VFIO group/container API; LUO preserves only a VFIO device cdev bound ` +
      'to iommufd, and a cdev opened here would be a file unrelated to the VM: run the VMM on iommufd with the device cdev ' +
      '(QEMU 8.2+: -object iommufd and vfio-pci iommufd=...), or move the VM off this node before the update',
  };
}

const LEGACY_STATES: readonly LuoLegacyState[] = ['normal', 'prepared', 'frozen', 'updated'];

/**
 * Token of the memfd holding the attempt key in a mainline session: above every device token (BDF-packed tokens are
 * < 2^32), so it never meets one.
 */
export const ATTEMPT_KEY_TOKEN = String(2 ** 32);

/** Mainline session name for an attempt: deterministic, so the new kernel retrieves it by the same key. */
export function sessionName(key: AttemptKey): string {
  const name = `luo-op:${key.planUid}:${key.attempt}`;
  if (name.length < LIVEUPDATE_SESSION_NAME_LENGTH && /^[A-Za-z0-9._:-]+$/.test(name)) return name;
  const digest = createHash('sha256').update(`${key.planUid}\0${key.attempt}`).digest('hex').slice(0, 32);
  return `luo-op:${digest}:${key.attempt}`.slice(0, LIVEUPDATE_SESSION_NAME_LENGTH - 1);
}

/** Token of a device inside its session: the BDF packed into a u64 (domain, bus, devfn), unique per host. */
export function deviceToken(bdf: Bdf): string {
  const address = parseBdf(bdf);
  if (!address) throw new Error(`not a PCI address: "${bdf}"`);
  return String(address.domain * 0x10000 + address.bus * 0x100 + address.device * 8 + address.fn);
}

export class LinuxLuo implements Luo {
  private readonly sysfsRoot: string;
  private readonly procRoot: string;
  private readonly devRoot: string;
  private readonly stateDir: string;
  readonly helper: LuoHelper;
  private probed: LuoApi | undefined;
  /** Sessions the helper holds (created or retrieved), with the pid of the helper that opened each. */
  private readonly held = new Map<string, number>();

  constructor(options: LinuxLuoOptions = {}) {
    this.sysfsRoot = options.sysfsRoot ?? '/sys';
    this.procRoot = options.procRoot ?? '/proc';
    this.devRoot = options.devRoot ?? '/dev';
    this.stateDir = options.stateDir ?? '/var/lib/liveupdate-agent/luo';
    this.helper = new LuoHelper(options.helperPath ?? defaultHelperPath(), path.join(this.devRoot, 'liveupdate'));
  }

  /**
   * legacy when the kernel shows the global state file; mainline when /dev/liveupdate exists and its session
   * ioctls answer (anything but ENOTTY); none otherwise. The state file is checked first because the dialects
   * reuse ioctl numbers, and probing a legacy kernel with session ioctls could act on it.
   */
  async api(): Promise<LuoApi> {
    if (existsSync(this.legacyStateFile())) return 'legacy';
    if (!existsSync(path.join(this.devRoot, 'liveupdate'))) return 'none';
    if (this.probed === undefined) {
      const reply = await this.opening('probe').finally(() => this.release());
      this.probed = reply['api'] === 'mainline' ? 'mainline' : String(reply['api']).startsWith('legacy') ? 'legacy' : 'none';
    }
    return this.probed;
  }

  async state(): Promise<LuoLegacyState | undefined> {
    if ((await this.api()) !== 'legacy') return undefined;
    const text = (await readFile(this.legacyStateFile(), 'utf8')).trim();
    const state = LEGACY_STATES.find((s) => s === text);
    if (!state) throw new Error(`${this.legacyStateFile()}: unknown LUO state "${text}"`);
    return state;
  }

  async prepare(key: AttemptKey, devices: Bdf[]): Promise<void> {
    const api = await this.requireApi();
    if (api === 'legacy') {
      // A retried prepare of the same attempt finds the kernel already prepared: nothing to do.
      if ((await this.state()) === 'prepared' && (await readJson(this.recordFile(key)))) return;
      await this.writeRecord({ key, api, session: 'legacy', tokens: Object.fromEntries(devices.map((d) => [d, ''])) });
      await this.opening('legacy-event prepare').finally(() => this.release());
      return;
    }
    const session = sessionName(key);
    const tokens: Record<Bdf, string> = {};
    await this.closeSession(session); // a half-done earlier try is cancelled, then redone whole
    await this.createSession(session);
    try {
      // The key travels in the session itself: finding it again after boot proves this boot was the live update.
      await this.helper.check(`preserve-memfd ${session} ${ATTEMPT_KEY_TOKEN} ${Buffer.from(JSON.stringify(key)).toString('hex')}`);
      for (const bdf of devices) {
        // A bridge has no fd to preserve: the kernel's PCI core keeps bus master on every bridge above a preserved
        // endpoint (the 2026 PCI live-update series), so the closure's bridges are the kernel's part, not ours.
        if (await this.isBridge(bdf)) continue;
        const preserved = await this.preserveDevice(session, bdf);
        if ('why' in preserved) throw new LuoCallError(`preserve ${bdf}`, preserved.errno, `${bdf}: not preservable: ${preserved.why}`);
        tokens[bdf] = preserved.token;
      }
    } catch (err) {
      await this.closeSession(session);
      await this.release();
      throw err;
    }
    await this.writeRecord({ key, api, session, tokens });
  }

  /** The session prepare created is held by the helper that created it (same pid), and the kernel names its fd. */
  async checkHeld(key: AttemptKey): Promise<{ held: true } | { held: false; why: string }> {
    if ((await this.requireApi()) === 'legacy') return { held: true };
    const session = sessionName(key);
    const by = this.held.get(session);
    const pid = this.helper.pid;
    if (by === undefined) return { held: false, why: `session ${session} was not created by this agent process` };
    if (pid !== by) return { held: false, why: `luo-helper pid ${by}, which held session ${session}, is gone (${pid === undefined ? 'no helper runs' : `pid ${pid} runs now`}): the kernel cancelled the session when it died` };
    const named = await this.helper.call(`name ${session}`);
    if (named.ok && named['name'] === session) return { held: true };
    // A kernel before 7.2 has no GET_NAME; the helper answering for the fd it holds is then all the proof there is.
    if (!named.ok && named['at'] === 'LIVEUPDATE_SESSION_GET_NAME' && named.errno === 'ENOTTY') return { held: true };
    return { held: false, why: `luo-helper pid ${by} does not hold session ${session}: ${named.ok ? `GET_NAME answered "${String(named['name'])}"` : (named.message ?? named.errno ?? 'no answer')}` };
  }

  /** Mainline: PRESERVE_FD of each device's fd into a throwaway session that is closed whatever happened. */
  async probe(devices: Bdf[]): Promise<ProbeResult> {
    const api = await this.api();
    if (api !== 'mainline') return probeWithoutSessions(api, devices);
    const session = probeSessionName();
    try {
      await this.createSession(session);
      const results = await this.probeEach(session, devices).finally(() => this.closeProbeSession(session));
      return { api, devices: results };
    } finally {
      await this.release();
    }
  }

  async cancel(key: AttemptKey): Promise<void> {
    const api = await this.requireApi();
    if (api === 'legacy') {
      if ((await this.state()) === 'prepared') await this.opening('legacy-event cancel');
    } else {
      await this.closeSession(sessionName(key));
    }
    await this.release();
    await rm(this.recordFile(key), { force: true });
  }

  async retrieve(retrieved?: (handover: LuoHandover) => Promise<void>): Promise<LuoHandover> {
    const api = await this.api();
    const handover: LuoHandover = { sessions: [], devices: [] };
    if (api === 'none') return handover;
    const records = await this.readRecords();
    if (api === 'legacy') {
      // Only an `updated` kernel carries LUO data; `normal` after a kexec means it was lost (cold boot).
      for (const record of records) {
        if ((await this.state()) !== 'updated') continue;
        handover.sessions.push('legacy');
        handover.devices.push(...Object.keys(record.tokens));
      }
      return handover;
    }
    handover.attemptKeys = [];
    try {
      for (const record of records) {
        const reply = await this.retrieveSession(record.session);
        if (!reply.ok && reply.errno !== 'EEXIST') continue; // ENOENT: this session did not survive
        handover.sessions.push(record.session);
        const key = await this.retrieveAttemptKey(record.session);
        if (key) handover.attemptKeys.push(key);
      }
      // From here the sessions live only as long as this helper: the caller records them first.
      await retrieved?.({ ...handover, attemptKeys: [...handover.attemptKeys] });
      for (const record of records.filter((r) => handover.sessions.includes(r.session))) {
        for (const [bdf, token] of Object.entries(record.tokens)) {
          const restored = await this.helper.call(`retrieve-fd ${record.session} ${token}`);
          if (restored.ok) handover.devices.push(bdf);
        }
      }
    } finally {
      await this.release();
    }
    return handover;
  }

  async finish(key: AttemptKey): Promise<void> {
    const api = await this.requireApi();
    if (api === 'legacy') {
      if ((await this.state()) === 'updated') await this.opening('legacy-event finish').finally(() => this.release());
    } else {
      const session = sessionName(key);
      const retrieved = await this.retrieveSession(session);
      // ENOENT: no such incoming session (already finished, or nothing was handed over): nothing to finish.
      if (!retrieved.ok && retrieved.errno !== 'EEXIST' && retrieved.errno !== 'ENOENT')
        throw new LuoCallError(`retrieve ${session}`, retrieved.errno ?? 'EUNKNOWN', retrieved.message ?? 'failed');
      if (retrieved.ok || retrieved.errno === 'EEXIST') {
        await this.helper.check(`finish ${session}`);
        await this.closeSession(session);
      }
      await this.release();
    }
    await rm(this.recordFile(key), { force: true });
  }

  /** The attempt key memfd of a retrieved session; absent (a session without one, or already taken) is undefined. */
  private async retrieveAttemptKey(session: string): Promise<AttemptKey | undefined> {
    const reply = await this.helper.call(`retrieve-memfd ${session} ${ATTEMPT_KEY_TOKEN}`);
    if (!reply.ok || typeof reply['hex'] !== 'string') return undefined;
    try {
      const key = JSON.parse(Buffer.from(reply['hex'], 'hex').toString('utf8')) as Partial<AttemptKey>;
      if (typeof key.planUid === 'string' && typeof key.node === 'string' && typeof key.attempt === 'number') return { planUid: key.planUid, node: key.node, attempt: key.attempt };
    } catch {
      // not JSON: not a key this agent wrote
    }
    return undefined;
  }

  /** Stops the helper; with mainline sessions still held this is a cancel, so call it only on shutdown. */
  close(): Promise<void> {
    this.held.clear();
    return this.helper.stop();
  }

  /** Stops the helper — and so lets go of /dev/liveupdate — unless it holds an attempt's session. */
  private async release(): Promise<void> {
    const pid = this.helper.pid;
    if (pid === undefined || [...this.held.values()].includes(pid)) return;
    await this.helper.stop();
  }

  /** A helper command that opens /dev/liveupdate; a device another process holds becomes a LuoBusyError naming it. */
  private async opening(command: string): Promise<HelperReply> {
    const reply = await this.helper.call(command);
    await this.throwIfBusy(reply);
    if (!reply.ok) throw new LuoCallError(command, reply.errno ?? 'EUNKNOWN', reply.message ?? 'failed');
    return reply;
  }

  private async throwIfBusy(reply: HelperReply): Promise<void> {
    const device = path.join(this.devRoot, 'liveupdate');
    if (reply.ok || reply.errno !== 'EBUSY' || reply['at'] !== device) return;
    const helper = this.helper.pid;
    throw new LuoBusyError(device, (await deviceOpeners(this.procRoot, device)).filter((pid) => pid !== helper));
  }

  private async createSession(session: string): Promise<void> {
    await this.opening(`create ${session}`);
    this.held.set(session, this.helper.pid!);
  }

  /** RETRIEVE_SESSION; the reply is the caller's to judge (ENOENT: nothing came over, EEXIST: already ours). */
  private async retrieveSession(session: string): Promise<HelperReply> {
    const reply = await this.helper.call(`retrieve ${session}`);
    await this.throwIfBusy(reply);
    if (reply.ok) this.held.set(session, this.helper.pid!);
    return reply;
  }

  private async closeSession(session: string): Promise<void> {
    await this.helper.check(`close ${session}`);
    this.held.delete(session);
  }

  private async requireApi(): Promise<'legacy' | 'mainline'> {
    const api = await this.api();
    if (api === 'none')
      throw new Error('this kernel has no Live Update Orchestrator (no /dev/liveupdate): boot it with liveupdate=on');
    return api;
  }

  private legacyStateFile(): string {
    return path.join(this.sysfsRoot, 'kernel/liveupdate/state');
  }

  private async isBridge(bdf: Bdf): Promise<boolean> {
    const pciClass = parseClass((await readAttribute(path.join(this.sysfsRoot, 'bus/pci/devices', bdf), 'class')) ?? '');
    return pciClass !== undefined && isBridgeClass(pciClass);
  }

  /**
   * PRESERVE_FD of a device's VFIO cdev, shared by prepare and probe. If a VMM holds the cdev open, that very open
   * file is taken with pidfd_getfd (its state is what must survive); otherwise the helper opens the cdev itself.
   */
  private async preserveDevice(session: string, bdf: Bdf): Promise<Preserved> {
    const deviceDir = path.join(this.sysfsRoot, 'bus/pci/devices', bdf);
    const source = await this.vfioSource(bdf, deviceDir);
    if (source === undefined) return { errno: 'ENODEV', why: `no VFIO device cdev (${deviceDir}/vfio-dev); bind it to vfio-pci to preserve it` };
    if (typeof source !== 'string') return source;
    const token = deviceToken(bdf);
    const reply = await this.helper.call(`preserve ${session} ${token} ${source}`);
    if (reply.ok) return { token };
    const errno = reply.errno ?? 'EUNKNOWN';
    // ENOENT from the ioctl itself (not from opening the source): no preservation handler takes a VFIO file.
    if (errno === 'ENOENT' && reply['at'] === 'LIVEUPDATE_SESSION_PRESERVE_FD') return { errno, why: VFIO_NOT_PRESERVABLE };
    return { errno, why: reply.message ?? `PRESERVE_FD failed (${errno})` };
  }

  /**
   * The file that stands for a vfio-pci device: its cdev (held by a VMM, else opened here). A VMM holding the device
   * through the group API is refused: its device fd is no cdev, and any file opened here would not be the VM's.
   * A held cdev carries its device number (pidfd:PID:FD:MAJOR:MINOR): the helper checks the file it took is that
   * device, so a pid or fd reused since the scan is refused. Without a cdev node (a kernel without VFIO_DEVICE_CDEV,
   * or a no-IOMMU device: sysfs still lists vfio-dev/vfio<N> but /dev has no node) only its group is left,
   * /dev/vfio/<N> or /dev/vfio/noiommu-<N>: that group file is tried.
   */
  private async vfioSource(bdf: Bdf, deviceDir: string): Promise<string | Refusal | undefined> {
    const open = await scanOpenVfioFiles(this.procRoot);
    const group = await linkName(deviceDir, 'iommu_group');
    const groupHolder = open.groupDevices.get(bdf) ?? (group === null ? undefined : open.groups.get(group));
    if (groupHolder) return groupModeRefusal(groupHolder);
    const cdev = await readVfioDevice(deviceDir);
    if (cdev) {
      const holder = open.cdevs.get(cdev);
      if (holder) {
        const numberFile = path.join(deviceDir, 'vfio-dev', cdev, 'dev');
        const number = /^(\d+):(\d+)$/.exec((await readAttribute(path.join(deviceDir, 'vfio-dev', cdev), 'dev'))?.trim() ?? '');
        if (!number) return { errno: 'ENODEV', why: `${numberFile}: no device number for ${cdev}, which pid ${holder.pid} holds; cannot check the file taken from it` };
        return `pidfd:${holder.pid}:${holder.fd}:${number[1]}:${number[2]}`;
      }
      const node = path.join(this.devRoot, 'vfio/devices', cdev);
      if (existsSync(node)) return `path:${node}`;
    }
    if ((await linkName(deviceDir, 'driver')) === 'vfio-pci' && group !== null) {
      const noIommuGroup = path.join(this.devRoot, 'vfio', `noiommu-${group}`);
      return `path:${existsSync(noIommuGroup) ? noIommuGroup : path.join(this.devRoot, 'vfio', group)}`;
    }
    // Neither: opening the cdev path fails, and that error names what is missing.
    return cdev ? `path:${path.join(this.devRoot, 'vfio/devices', cdev)}` : undefined;
  }

  private async probeEach(session: string, devices: Bdf[]): Promise<DeviceProbe[]> {
    const results: DeviceProbe[] = [];
    for (const bdf of new Set(devices)) {
      if (!isBdf(bdf)) {
        results.push(notPreservable(bdf, 'not a PCI address'));
        continue;
      }
      const preserved = await this.preserveDevice(session, bdf);
      results.push('why' in preserved ? notPreservable(bdf, preserved.why) : preservable(bdf, VFIO_PRESERVABLE));
    }
    return results;
  }

  /** The kernel drops a closed session's preservations; a reply that it was not held means one may be left. */
  private async closeProbeSession(session: string): Promise<void> {
    const closed = await this.helper.call(`close ${session}`);
    this.held.delete(session);
    if (!closed.ok || closed['held'] !== true)
      throw new LuoCallError(`close ${session}`, closed.errno ?? 'EUNKNOWN', `probe session ${session} was not closed cleanly: ${closed.message ?? 'the helper did not hold it'}`);
  }

  private recordFile(key: AttemptKey): string {
    const id = createHash('sha256').update(`${key.planUid}\0${key.node}\0${key.attempt}`).digest('hex').slice(0, 24);
    return path.join(this.stateDir, `attempt-${id}.json`);
  }

  private async writeRecord(record: AttemptRecord): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    const file = this.recordFile(record.key);
    await writeFile(`${file}.tmp`, JSON.stringify(record));
    await rename(`${file}.tmp`, file);
  }

  private async readRecords(): Promise<AttemptRecord[]> {
    const names = (await readdir(this.stateDir).catch(() => [] as string[])).filter((n) => /^attempt-.*\.json$/.test(n));
    const records = await Promise.all(names.map((n) => readJson<AttemptRecord>(path.join(this.stateDir, n))));
    return records.filter((r): r is AttemptRecord => r !== undefined);
  }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
