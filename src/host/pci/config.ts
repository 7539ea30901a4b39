// PCI configuration space facts shared by the reader (linux) and the writer (sim).

/** The 16-bit little-endian command register lives at offset 4 of every function's header. */
export const COMMAND_OFFSET = 4;
/** Bus Master Enable: bit 2 of the command register. Clear it and the function's DMA stops. */
export const COMMAND_BUS_MASTER = 0x4;
/** Memory Space Enable: bit 1 of the command register. */
export const COMMAND_MEMORY_SPACE = 0x2;
export const HEADER_TYPE_OFFSET = 0x0e;
export const HEADER_TYPE_BRIDGE = 0x01;
export const HEADER_TYPE_MULTIFUNCTION = 0x80;
/** Type 1 (bridge) header: primary, secondary and subordinate bus numbers. */
export const PRIMARY_BUS_OFFSET = 0x18;
export const SECONDARY_BUS_OFFSET = 0x19;
export const SUBORDINATE_BUS_OFFSET = 0x1a;
/**
 * The standard header every function has. The kernel shows unprivileged readers of `config` exactly these 64
 * bytes, so anything shorter is a broken entry rather than a permission effect.
 */
export const STANDARD_HEADER_SIZE = 64;

export function commandRegister(config: Uint8Array): number {
  return new DataView(config.buffer, config.byteOffset, config.byteLength).getUint16(COMMAND_OFFSET, true);
}

export function busMasterEnabled(config: Uint8Array): boolean {
  return (commandRegister(config) & COMMAND_BUS_MASTER) !== 0;
}
