// Guest side of the kernel lane (runs inside the QEMU guest from the built dist/, see init.sh): the project's host
// layer against the real 7.2 kernel. Each check prints `LANE PASS|FAIL <step> <json>` for the host-side test.
//   doomed  prepare a session, then die by SIGKILL before kexec (its helper sees EOF: the kernel's implicit cancel)
//   boot1   helper/selftest agreement, LUO detection, arm the vfio-pci device, hold a session through kexec
//   boot2   after kexec: the held session's key comes back and finishes, the doomed one is gone, bus master lost
import { openSync, closeSync, existsSync } from 'node:fs';
import { open, writeFile, mkdir, readFile } from 'node:fs/promises';
import { LinuxHost } from '../../../src/host/linux/host';
import { LinuxLuo, sessionName } from '../../../src/host/linux/luo';
import { LuoHelper } from '../../../src/host/linux/luo-helper';
import type { AttemptKey } from '../../../src/host/types';
import { GUEST } from '../lane-layout';

const heldKey: AttemptKey = { planUid: 'lane-held', node: 'guest', attempt: 1 };
const doomedKey: AttemptKey = { planUid: 'lane-doomed', node: 'guest', attempt: 1 };
const luoFor = (dir: string) => new LinuxLuo({ stateDir: `${GUEST.state}/${dir}` });
const host = new LinuxHost({ imageDir: GUEST.boot, stateDir: `${GUEST.state}/host` });

function lane(verdict: 'PASS' | 'FAIL' | 'INFO', step: string, detail: unknown): void {
  process.stdout.write(`LANE ${verdict} ${step} ${JSON.stringify(detail)}\n`);
}

/** Runs one check: its result object is the PASS detail; a thrown error is the FAIL detail. */
async function check(step: string, body: () => Promise<Record<string, unknown>>): Promise<void> {
  try {
    lane('PASS', step, await body());
  } catch (err) {
    lane('FAIL', step, { error: err instanceof Error ? err.message : String(err) });
    process.exitCode = 1;
  }
}

function expect(condition: boolean, what: string, seen: unknown): void {
  if (!condition) throw new Error(`${what}; saw ${JSON.stringify(seen)}`);
}

/** Bus master on, as a VM driving the device would leave it (command register bit 2, config offset 4). */
async function setBusMaster(bdf: string): Promise<void> {
  const config = await open(`/sys/bus/pci/devices/${bdf}/config`, 'r+');
  try {
    const command = Buffer.alloc(2);
    await config.read(command, 0, 2, 4);
    command.writeUInt16LE(command.readUInt16LE(0) | 0x4, 0);
    await config.write(command, 0, 2, 4);
  } finally {
    await config.close();
  }
}

async function armVfioDevice(): Promise<Record<string, unknown>> {
  await host.bindVfio(GUEST.vfioDevice);
  await setBusMaster(GUEST.vfioDevice);
  const device = (await host.inventory()).devices.find((d) => d.bdf === GUEST.vfioDevice);
  expect(device?.driver === 'vfio-pci' && device.busMaster, `${GUEST.vfioDevice} on vfio-pci with bus master set`, device);
  return { bdf: GUEST.vfioDevice, driver: device!.driver, busMaster: device!.busMaster };
}

/** The same operations the kernel's `liveupdate` selftest makes, through the project's helper: same answers. */
async function agreement(): Promise<Record<string, unknown>> {
  const helper = new LuoHelper(process.env['LIVEUPDATE_LUO_HELPER']!, '/dev/liveupdate');
  const session = 'lane-agreement';
  try {
    await helper.check(`create ${session}`);
    // exclusive_open: a second opener of /dev/liveupdate gets EBUSY while the helper holds it.
    let secondOpen = 'opened';
    try {
      closeSync(openSync('/dev/liveupdate', 'r+'));
    } catch (err) {
      secondOpen = (err as NodeJS.ErrnoException).code ?? String(err);
    }
    expect(secondOpen === 'EBUSY', 'a second open of /dev/liveupdate is EBUSY (selftest exclusive_open)', secondOpen);
    const name = await helper.check(`name ${session}`);
    expect(name['name'] === session, 'GET_NAME returns the session name (selftest get_session_name)', name);
    const unsupported = await helper.call(`preserve ${session} 57005 path:/dev/null`);
    expect(unsupported.errno === 'ENOENT' && unsupported['at'] === 'LIVEUPDATE_SESSION_PRESERVE_FD', 'PRESERVE_FD of /dev/null is ENOENT (selftest preserve_unsupported_fd)', unsupported);
    const memfd = await helper.check(`preserve-memfd ${session} 4660 ${Buffer.from('agreement').toString('hex')}`);
    const duplicate = await helper.call(`create ${session}`);
    expect(duplicate.errno === 'EEXIST', 'a second session of the same name is EEXIST (selftest create_duplicate_session)', duplicate);
    await helper.check(`close ${session}`);
    return { secondOpen, name: name['name'], unsupported: unsupported.errno, memfdBytes: memfd['bytes'], duplicate: duplicate.errno };
  } finally {
    await helper.stop();
  }
}

async function doomed(): Promise<void> {
  await check('stage1.doomed-prepared', async () => {
    await luoFor('doomed').prepare(doomedKey, []);
    return { session: sessionName(doomedKey) };
  });
  // No cleanup, no close: the holder dies the way a crashed agent does.
  process.kill(process.pid, 'SIGKILL');
}

async function boot1(): Promise<void> {
  await check('peer.agreement', agreement);
  await check('stage1.detect', async () => {
    const luo = new LinuxLuo();
    // Its helper opens /dev/liveupdate (one opener at a time) only for the probe and lets go of it after.
    const api = await luo.api().finally(() => luo.close());
    const sysfsState = existsSync('/sys/kernel/liveupdate');
    expect(api === 'mainline' && !sysfsState, 'mainline LUO without /sys/kernel/liveupdate', { api, sysfsState });
    return { api, sysfsState };
  });
  await check('stage1.vfio-armed', async () => {
    const armed = await armVfioDevice();
    await mkdir(GUEST.state, { recursive: true });
    await writeFile(`${GUEST.state}/vfio-before.json`, JSON.stringify(armed));
    return armed;
  });
  const held = luoFor('held');
  await check('stage1.held', async () => {
    await held.prepare(heldKey, []);
    return { session: sessionName(heldKey), key: heldKey };
  });
  await writeFile('/tmp/held', '');
  // Hold the session (the helper child keeps its fd) until the kexec ends this kernel.
  setInterval(() => undefined, 60_000);
}

async function boot2(): Promise<void> {
  await check('stage1.retrieved', async () => {
    const luo = luoFor('held');
    try {
      const handover = await luo.retrieve();
      const back = handover.attemptKeys ?? [];
      expect(handover.sessions.includes(sessionName(heldKey)) && back.some((k) => k.planUid === heldKey.planUid && k.attempt === heldKey.attempt), 'the held session and its attempt key memfd came back', handover);
      await luo.finish(heldKey);
      return { sessions: handover.sessions, attemptKeys: back, finished: true };
    } finally {
      await luo.close();
    }
  });
  await check('stage1.implicit-cancel', async () => {
    const luo = luoFor('doomed');
    const handover = await luo.retrieve();
    const direct = await luo.helper.call(`retrieve ${sessionName(doomedKey)}`).finally(() => luo.close());
    expect(handover.sessions.length === 0 && direct.errno === 'ENOENT', 'the dead holder\'s session is gone (RETRIEVE_SESSION: ENOENT)', { handover, direct });
    return { sessions: handover.sessions, retrieve: direct.errno };
  });
  await check('stage1.busmaster-lost', async () => {
    const before = JSON.parse(await readFile(`${GUEST.state}/vfio-before.json`, 'utf8')) as { busMaster: boolean };
    const after = await host.readBusMaster(GUEST.vfioDevice);
    expect(before.busMaster && !after, 'bus master set before the plain kexec and clear after it', { before, after });
    return { bdf: GUEST.vfioDevice, before: before.busMaster, after, lost: true };
  });
  // Stage 2 needs the device as a VM would hold it: on vfio-pci, bus master set.
  await check('stage2.vfio-armed', armVfioDevice);
}

const steps: Record<string, () => Promise<void>> = { doomed, boot1, boot2 };
const step = steps[process.argv[2] ?? ''];
if (!step) {
  lane('FAIL', 'guest', { error: `unknown step ${process.argv[2]}` });
  process.exit(2);
}
// Only boot1 stays (its helper holds the session until kexec); the others end, whatever children they started.
step().then(() => {
  if (step !== boot1) process.exit();
}, (err: unknown) => {
  lane('FAIL', `guest.${process.argv[2]}`, { error: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
