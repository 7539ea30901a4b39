// PCI addresses as the kernel names them in sysfs.
import { BDF_PATTERN } from '../api/fields';
import type { Bdf } from './types';

/** domain:bus:device.function, lowercase hex, e.g. 0000:05:00.1: the API's pattern, so host and API agree. */
export { BDF_PATTERN };

/** A root bus directory (pci<domain>:<bus>, e.g. pci0000:04): a bus, not a device. */
export const ROOT_BUS_PATTERN = /^pci[0-9a-f]{4,}:[0-9a-f]{2}$/;

export function isBdf(text: string): boolean {
  return BDF_PATTERN.test(text);
}

/** The numeric parts of an address; undefined when it is not one. */
export function parseBdf(text: string): { domain: number; bus: number; device: number; fn: number } | undefined {
  if (!isBdf(text)) return undefined;
  const [domain, bus, device, fn] = text.split(/[:.]/).map((part) => parseInt(part, 16)) as [number, number, number, number];
  return { domain, bus, device, fn };
}

export function formatBdf(domain: number, bus: number, device: number, fn: number): Bdf {
  const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
  return `${hex(domain, 4)}:${hex(bus, 2)}:${hex(device, 2)}.${fn}`;
}

/** Fixed-width lowercase hex makes string order equal to numeric (domain, bus, device, function) order. */
export function compareBdf(a: Bdf, b: Bdf): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
