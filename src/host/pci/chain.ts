// The bridge chain of a device is spelled out by where the kernel put its directory under <sysfs>/devices.
import { sep } from 'node:path';
import type { Bdf } from '../types';
import { isBdf, ROOT_BUS_PATTERN } from '../../pci/bdf';

/**
 * Bridges above `bdf`, nearest first, from its directory relative to <sysfs>/devices, e.g.
 * "pci0000:00/0000:00:01.0/0000:04:01.0/0000:05:00.1" → ["0000:04:01.0", "0000:00:01.0"].
 * Anything before the first root bus (platform devices on some machines) is skipped, and root buses are not
 * devices. Returns undefined when the path does not end in `bdf` below a root bus, or holds a non-PCI component.
 */
export function upstreamFromDevicePath(relativeDir: string, bdf: Bdf): Bdf[] | undefined {
  const parts = relativeDir.split(sep).filter((p) => p !== '');
  const rootAt = parts.findIndex((p) => ROOT_BUS_PATTERN.test(p));
  if (rootAt < 0) return undefined;
  const functions = parts.slice(rootAt + 1).filter((p) => !ROOT_BUS_PATTERN.test(p));
  if (functions.length === 0 || functions.at(-1) !== bdf || !functions.every(isBdf)) return undefined;
  return functions.slice(0, -1).reverse();
}
