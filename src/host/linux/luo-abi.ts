// The LUO user ABI computed from the uAPI header facts, independently of the C helper: the unit test checks the
// helper's `--print-abi` (built with the system's <linux/ioctl.h>) against these numbers and both against the
// values documented in include/uapi/linux/liveupdate.h (mainline 6.19, GET_NAME from 7.2) and the LUO RFC v2 and
// v3-v4 headers. Encoding is the asm-generic one used by x86-64 and arm64 (powerpc / mips / sparc differ).

const IOC_NRBITS = 8;
const IOC_TYPEBITS = 8;
const IOC_SIZEBITS = 14;
const IOC_NRSHIFT = 0;
const IOC_TYPESHIFT = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT = IOC_SIZESHIFT + IOC_SIZEBITS;

export const IOC_NONE = 0;
export const IOC_WRITE = 1;
export const IOC_READ = 2;

/** _IOC(dir, type, nr, size) as an unsigned 32-bit number. */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  if (size >= 1 << IOC_SIZEBITS) throw new RangeError(`ioctl argument size ${size} does not fit in 14 bits`);
  return ((dir << IOC_DIRSHIFT) | (size << IOC_SIZESHIFT) | (type << IOC_TYPESHIFT) | (nr << IOC_NRSHIFT)) >>> 0;
}
export const io = (type: number, nr: number) => ioc(IOC_NONE, type, nr, 0);
export const ior = (type: number, nr: number, size: number) => ioc(IOC_READ, type, nr, size);
export const iow = (type: number, nr: number, size: number) => ioc(IOC_WRITE, type, nr, size);
export const iowr = (type: number, nr: number, size: number) => ioc(IOC_READ | IOC_WRITE, type, nr, size);

/** A C struct field: element size, alignment and count (arrays). */
interface Field {
  name: string;
  size: number;
  align: number;
  count?: number;
}
const u32 = (name: string): Field => ({ name, size: 4, align: 4 });
const s32 = u32;
/** __aligned_u64: 8-byte aligned on every architecture, unlike a plain u64 on i386. */
const alignedU64 = (name: string): Field => ({ name, size: 8, align: 8 });
const u8Array = (name: string, count: number): Field => ({ name, size: 1, align: 1, count });

export interface StructLayout {
  size: number;
  offsets: Record<string, number>;
}

/** Natural C layout: each field at the next multiple of its alignment, size rounded up to the largest alignment. */
export function layout(fields: Field[]): StructLayout {
  let offset = 0;
  let maxAlign = 1;
  const offsets: Record<string, number> = {};
  for (const field of fields) {
    offset = Math.ceil(offset / field.align) * field.align;
    offsets[field.name] = offset;
    offset += field.size * (field.count ?? 1);
    maxAlign = Math.max(maxAlign, field.align);
  }
  return { size: Math.ceil(offset / maxAlign) * maxAlign, offsets };
}

export const LIVEUPDATE_IOCTL_TYPE = 0xba;
export const LIVEUPDATE_SESSION_NAME_LENGTH = 64;

export const structs = {
  liveupdate_ioctl_create_session: layout([u32('size'), s32('fd'), u8Array('name', LIVEUPDATE_SESSION_NAME_LENGTH)]),
  liveupdate_ioctl_retrieve_session: layout([u32('size'), s32('fd'), u8Array('name', LIVEUPDATE_SESSION_NAME_LENGTH)]),
  liveupdate_session_preserve_fd: layout([u32('size'), s32('fd'), alignedU64('token')]),
  liveupdate_session_retrieve_fd: layout([u32('size'), s32('fd'), alignedU64('token')]),
  liveupdate_session_finish: layout([u32('size'), u32('reserved')]),
  liveupdate_session_get_name: layout([u32('size'), u32('reserved'), u8Array('name', LIVEUPDATE_SESSION_NAME_LENGTH)]),
  // RFC v2 `struct liveupdate_fd { int fd; __u32 flags; __u64 token; }`
  v2_liveupdate_fd: layout([s32('fd'), u32('flags'), alignedU64('token')]),
  v3_liveupdate_ioctl_get_state: layout([u32('size'), u32('state')]),
  v3_liveupdate_ioctl_set_event: layout([u32('size'), u32('event')]),
};

const T = LIVEUPDATE_IOCTL_TYPE;
export const ioctls = {
  // Mainline: /dev/liveupdate commands from 0x00, session-fd commands from 0x40, all _IO with size-prefixed structs.
  LIVEUPDATE_IOCTL_CREATE_SESSION: io(T, 0x00),
  LIVEUPDATE_IOCTL_RETRIEVE_SESSION: io(T, 0x01),
  LIVEUPDATE_SESSION_PRESERVE_FD: io(T, 0x40),
  LIVEUPDATE_SESSION_RETRIEVE_FD: io(T, 0x41),
  LIVEUPDATE_SESSION_FINISH: io(T, 0x42),
  LIVEUPDATE_SESSION_GET_NAME: io(T, 0x43),
  // RFC v2: sized numbers, and argument-less events 0x04..0x07.
  V2_LIVEUPDATE_IOCTL_FD_PRESERVE: iowr(T, 0x00, structs.v2_liveupdate_fd.size),
  V2_LIVEUPDATE_IOCTL_FD_UNPRESERVE: iow(T, 0x01, 8),
  V2_LIVEUPDATE_IOCTL_FD_RESTORE: iowr(T, 0x02, structs.v2_liveupdate_fd.size),
  V2_LIVEUPDATE_IOCTL_GET_STATE: ior(T, 0x03, 4),
  V2_LIVEUPDATE_IOCTL_EVENT_PREPARE: io(T, 0x04),
  V2_LIVEUPDATE_IOCTL_EVENT_FREEZE: io(T, 0x05),
  V2_LIVEUPDATE_IOCTL_EVENT_CANCEL: io(T, 0x06),
  V2_LIVEUPDATE_IOCTL_EVENT_FINISH: io(T, 0x07),
  // v3-v4: GET_STATE / SET_EVENT with size-prefixed structs.
  V3_LIVEUPDATE_IOCTL_GET_STATE: io(T, 0x03),
  V3_LIVEUPDATE_IOCTL_SET_EVENT: io(T, 0x04),
};

/** <linux/reboot.h>: reboot(MAGIC1, MAGIC2, LINUX_REBOOT_CMD_KEXEC) jumps into the kernel loaded by kexec_file_load. */
export const reboot = {
  LINUX_REBOOT_MAGIC1: 0xfee1dead,
  LINUX_REBOOT_MAGIC2: 672274793,
  LINUX_REBOOT_CMD_KEXEC: 0x45584543,
};

/** The shape `luo-helper --print-abi` prints; the test compares it with this module. */
export interface PrintedAbi {
  ioctl: Record<string, number>;
  structs: Record<string, StructLayout>;
  reboot: Record<string, number>;
  sessionNameLength: number;
}

export function expectedAbi(): PrintedAbi {
  return { ioctl: ioctls, structs, reboot, sessionNameLength: LIVEUPDATE_SESSION_NAME_LENGTH };
}
