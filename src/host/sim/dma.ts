// DMA continuity, measured: each simulated endpoint has a counter of DMA time (ms) that advances only while its own
// bus master bit and the bus master bit of every bridge above it are set, as read from the fake sysfs config space.
// Nothing here knows about live updates; a kexec that clears a bit shows up as a counter that stopped.
import type { Bdf, PciDevice } from '../types';

export type DmaCounters = Record<Bdf, number>;

/** True when a transaction from `device` can reach the root complex: its bus master and all upstream ones are set. */
export function dmaPathOpen(device: Pick<PciDevice, 'busMaster' | 'upstream'>, busMaster: ReadonlyMap<Bdf, boolean>): boolean {
  return device.busMaster && device.upstream.every((bridge) => busMaster.get(bridge) === true);
}

/** Counters after `elapsedMs` with the bus master bits in `devices`; endpoints only (bridges forward, not master). */
export function advanceCounters(
  counters: DmaCounters,
  devices: Pick<PciDevice, 'bdf' | 'bridge' | 'busMaster' | 'upstream'>[],
  elapsedMs: number,
): DmaCounters {
  const busMaster = new Map(devices.map((d) => [d.bdf, d.busMaster]));
  const next: DmaCounters = { ...counters };
  for (const device of devices) {
    if (device.bridge) continue;
    next[device.bdf] = (next[device.bdf] ?? 0) + (dmaPathOpen(device, busMaster) ? Math.max(0, elapsedMs) : 0);
  }
  return next;
}

export interface DmaState {
  counters: DmaCounters;
  /** Clock time (ms) the counters were last advanced to. */
  at: number;
}

/** Advances persisted DMA state to `now` given the devices as they were since `state.at`. */
export function advanceDma(state: DmaState | undefined, devices: Parameters<typeof advanceCounters>[1], now: number): DmaState {
  if (!state) return { counters: advanceCounters({}, devices, 0), at: now };
  return { counters: advanceCounters(state.counters, devices, now - state.at), at: Math.max(now, state.at) };
}
