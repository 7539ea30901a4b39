import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { expectedAbi, ioc, IOC_READ, IOC_WRITE, layout, type PrintedAbi } from '../../../src/host/linux/luo-abi';
import { builtHelper } from './native-helper';

// Values worked out by hand from the uAPI headers (type 0xBA; _IOC = dir<<30 | size<<16 | type<<8 | nr).
const documented: Record<string, number> = {
  LIVEUPDATE_IOCTL_CREATE_SESSION: 0xba00,
  LIVEUPDATE_IOCTL_RETRIEVE_SESSION: 0xba01,
  LIVEUPDATE_SESSION_PRESERVE_FD: 0xba40,
  LIVEUPDATE_SESSION_RETRIEVE_FD: 0xba41,
  LIVEUPDATE_SESSION_FINISH: 0xba42,
  LIVEUPDATE_SESSION_GET_NAME: 0xba43,
  V2_LIVEUPDATE_IOCTL_FD_PRESERVE: 0xc010ba00,
  V2_LIVEUPDATE_IOCTL_FD_UNPRESERVE: 0x4008ba01,
  V2_LIVEUPDATE_IOCTL_FD_RESTORE: 0xc010ba02,
  V2_LIVEUPDATE_IOCTL_GET_STATE: 0x8004ba03,
  V2_LIVEUPDATE_IOCTL_EVENT_PREPARE: 0xba04,
  V2_LIVEUPDATE_IOCTL_EVENT_FREEZE: 0xba05,
  V2_LIVEUPDATE_IOCTL_EVENT_CANCEL: 0xba06,
  V2_LIVEUPDATE_IOCTL_EVENT_FINISH: 0xba07,
  V3_LIVEUPDATE_IOCTL_GET_STATE: 0xba03,
  V3_LIVEUPDATE_IOCTL_SET_EVENT: 0xba04,
};

describe('LUO ABI', () => {
  let printed: PrintedAbi;
  before(() => {
    printed = JSON.parse(execFileSync(builtHelper(), ['--print-abi'], { encoding: 'utf8' })) as PrintedAbi;
  });

  it('the C helper (system <linux/ioctl.h>) and the TypeScript bit math agree on every number and layout', () => {
    assert.deepEqual(printed, expectedAbi());
  });

  it('ioctl numbers equal the values documented by the headers', () => {
    assert.deepEqual(expectedAbi().ioctl, documented);
    assert.deepEqual(printed.ioctl, documented);
  });

  it('struct sizes and offsets match the header layouts', () => {
    const { structs } = expectedAbi();
    assert.deepEqual(structs.liveupdate_ioctl_create_session, { size: 72, offsets: { size: 0, fd: 4, name: 8 } });
    assert.deepEqual(structs.liveupdate_session_preserve_fd, { size: 16, offsets: { size: 0, fd: 4, token: 8 } });
    assert.deepEqual(structs.liveupdate_session_finish, { size: 8, offsets: { size: 0, reserved: 4 } });
    assert.deepEqual(structs.liveupdate_session_get_name, { size: 72, offsets: { size: 0, reserved: 4, name: 8 } });
    assert.deepEqual(structs.v2_liveupdate_fd, { size: 16, offsets: { fd: 0, flags: 4, token: 8 } });
  });

  it('kexec reboot command and magics are the <linux/reboot.h> values', () => {
    assert.deepEqual(printed.reboot, { LINUX_REBOOT_MAGIC1: 0xfee1dead, LINUX_REBOOT_MAGIC2: 0x28121969, LINUX_REBOOT_CMD_KEXEC: 0x45584543 });
  });

  it('layout pads to alignment and ioc rejects sizes beyond 14 bits', () => {
    assert.deepEqual(layout([{ name: 'a', size: 1, align: 1 }, { name: 'b', size: 8, align: 8 }]), { size: 16, offsets: { a: 0, b: 8 } });
    assert.equal(ioc(IOC_READ | IOC_WRITE, 0xba, 0, 16), 0xc010ba00);
    assert.equal(ioc(IOC_WRITE, 0xba, 1, 8), 0x4008ba01);
    assert.throws(() => ioc(IOC_READ, 0xba, 0, 1 << 14), RangeError);
  });
});
