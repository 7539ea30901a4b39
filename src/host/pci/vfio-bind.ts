// Binding a device to vfio-pci the way user space does it on Linux: driver_override names the driver, a write of
// the BDF to bus/pci/drivers_probe makes the kernel probe it (synchronously), then the driver link tells what won.
// The simulator reuses this with its own drivers_probe, since writing a fake sysfs file triggers nothing.
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Bdf } from '../types';
import { isBdf } from '../../pci/bdf';
import { linkName } from './sysfs-read';

export const VFIO_PCI = 'vfio-pci';

/** The device is not on vfio-pci and was not bound to it; `driver` is the one it has (null: none). */
export class VfioBindError extends Error {
  constructor(
    readonly bdf: Bdf,
    readonly driver: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'VfioBindError';
  }
}

/** Makes the kernel probe drivers for one device. */
export type DriversProbe = (bdf: Bdf) => Promise<void>;

export function writeDriversProbe(sysfsRoot: string): DriversProbe {
  return (bdf) => writeFile(join(sysfsRoot, 'bus/pci/drivers_probe'), bdf);
}

/** Binds an unbound device to vfio-pci; a no-op when already bound; refuses a device another driver holds. */
export async function bindVfioPci(sysfsRoot: string, bdf: Bdf, driversProbe: DriversProbe = writeDriversProbe(sysfsRoot)): Promise<void> {
  if (!isBdf(bdf)) throw new Error(`not a PCI address: "${bdf}"`);
  const dir = join(sysfsRoot, 'bus/pci/devices', bdf);
  try {
    await stat(dir);
  } catch {
    throw new VfioBindError(bdf, null, `${bdf}: no such PCI device (${dir})`);
  }
  const current = await linkName(dir, 'driver');
  if (current === VFIO_PCI) return;
  // Unbinding a native driver would yank a device from the host (or the host's disk): never done here.
  if (current !== null) throw new VfioBindError(bdf, current, `${bdf}: bound to ${current}, not vfio-pci; refusing to unbind a native driver`);
  await writeFile(join(dir, 'driver_override'), VFIO_PCI);
  let probeError = '';
  try {
    await driversProbe(bdf);
  } catch (err) {
    probeError = `; drivers_probe: ${err instanceof Error ? err.message : String(err)}`;
  }
  const got = await linkName(dir, 'driver');
  if (got !== VFIO_PCI)
    throw new VfioBindError(bdf, got, `${bdf}: not bound to vfio-pci after drivers_probe (driver: ${got ?? 'none'}${probeError}); is the vfio-pci module loaded?`);
}
