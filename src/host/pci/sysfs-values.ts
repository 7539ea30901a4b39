// Parsing of the small text attributes the kernel exposes per PCI device (`vendor`, `device`, `class`, ...).

/** `vendor` / `device` files read "0x10de\n": returns the 4 lowercase hex digits, or undefined if malformed. */
export function parseId(text: string): string | undefined {
  const match = /^0x([0-9a-fA-F]{4})$/.exec(text.trim());
  return match ? match[1]!.toLowerCase() : undefined;
}

/** `class` reads "0x060400\n": returns the 6 lowercase hex digits, or undefined if malformed. */
export function parseClass(text: string): string | undefined {
  const match = /^0x([0-9a-fA-F]{6})$/.exec(text.trim());
  return match ? match[1]!.toLowerCase() : undefined;
}

/** Base class 0x06 (bridge), subclass 0x04 (PCI-to-PCI): root ports and switch ports. */
export function isBridgeClass(pciClass: string): boolean {
  return pciClass.startsWith('0604');
}

/** `driver_override` prints "(null)" when unset. */
export function parseDriverOverride(text: string): string | null {
  const value = text.trim();
  return value === '' || value === '(null)' ? null : value;
}

/** Vendor:device selector as typed on the command line (e.g. 8086:1457), normalised to lowercase. */
export function parseDeviceId(text: string): { vendor: string; device: string } | undefined {
  const match = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$/.exec(text);
  return match ? { vendor: match[1]!.toLowerCase(), device: match[2]!.toLowerCase() } : undefined;
}
