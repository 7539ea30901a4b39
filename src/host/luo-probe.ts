// What the Linux and simulated preservability probes share: the throwaway session's name and the reasons they
// report, so both implementations (and their prepare errors) say the same thing.
import { randomBytes } from 'node:crypto';
import type { Bdf, DeviceProbe, LuoApi, ProbeResult } from './types';

/** PRESERVE_FD of a VFIO cdev answered ENOENT: no file handler accepts it (Linux 7.2.13 preserves memfd only). */
export const VFIO_NOT_PRESERVABLE = 'the running kernel cannot preserve VFIO devices (PRESERVE_FD: ENOENT)';

export const VFIO_PRESERVABLE = 'PRESERVE_FD accepted its VFIO device fd';

/** Unique per probe, so it never meets an attempt's session (luo-op:...) or an incoming one. */
export function probeSessionName(): string {
  return `luo-probe:${randomBytes(8).toString('hex')}`;
}

export function preservable(bdf: Bdf, reason: string): DeviceProbe {
  return { bdf, preservable: true, reason };
}

export function notPreservable(bdf: Bdf, why: string): DeviceProbe {
  return { bdf, preservable: false, reason: `not preservable: ${why}` };
}

/** The answer of a kernel without sessions to try fds in: legacy decides at prepare, none cannot preserve. */
export function probeWithoutSessions(api: Exclude<LuoApi, 'mainline'>, devices: Bdf[]): ProbeResult {
  return {
    api,
    devices: [...new Set(devices)].map((bdf) =>
      api === 'legacy'
        ? preservable(bdf, 'the legacy LUO API has no per-device probe: its PCI core decides at prepare')
        : notPreservable(bdf, 'the running kernel has no Live Update Orchestrator (boot it with liveupdate=on)'),
    ),
  };
}
