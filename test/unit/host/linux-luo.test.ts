import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ATTEMPT_KEY_TOKEN, deviceToken, LinuxLuo, sessionName } from '../../../src/host/linux/luo';
import { deviceOpeners, LuoBusyError } from '../../../src/host/luo-busy';
import { VFIO_NOT_PRESERVABLE } from '../../../src/host/luo-probe';
import { waitFor } from '../../support/wait';
import { builtHelper } from './native-helper';

const key = { planUid: '6f1c2f9e-5d3a-4b8e-9a51-0c7d2e4b1a90', node: 'node-a', attempt: 2 };

const BUSY = '{"ok":false,"errno":"EBUSY","code":16,"message":"busy"}';

/** A fake luo-helper speaking the serve protocol: answers from a script of replies and logs every command. */
async function fakeHelper(dir: string, api: string, failOn = '', failReply = BUSY): Promise<string> {
  const file = path.join(dir, 'fake-helper.sh');
  await writeFile(
    file,
    `#!/usr/bin/env bash
while IFS= read -r line; do
  echo "$line" >> "${dir}/commands.log"
  case "$line" in
    "${failOn || '__never__'}"|"${failOn || '__never__'} "*) echo '${failReply}' ;;
    probe) echo '{"ok":true,"api":"${api}"}' ;;
    "name "*) echo "{\\"ok\\":true,\\"name\\":\\"\${line#name }\\"}" ;;
    preserve-memfd*) memfd="\${line##* }"; echo '{"ok":true}' ;;
    retrieve-memfd*) echo "{\\"ok\\":true,\\"hex\\":\\"$memfd\\"}" ;;
    close*) echo '{"ok":true,"held":true}' ;;
    *) echo '{"ok":true}' ;;
  esac
done
`,
  );
  await chmod(file, 0o755);
  return file;
}

async function roots(): Promise<{ dir: string; sysfs: string; proc: string; dev: string; state: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'luo-'));
  const r = { dir, sysfs: path.join(dir, 'sys'), proc: path.join(dir, 'proc'), dev: path.join(dir, 'dev'), state: path.join(dir, 'state') };
  for (const d of [r.sysfs, r.proc, r.dev]) await mkdir(d, { recursive: true });
  return r;
}

const log = async (dir: string) => (await readFile(path.join(dir, 'commands.log'), 'utf8')).trim().split('\n');

describe('Linux LUO detection', () => {
  const cleanup: string[] = [];
  const luos: LinuxLuo[] = [];
  after(async () => {
    await Promise.all(luos.map((l) => l.close()));
    await Promise.all(cleanup.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('none when neither /dev/liveupdate nor the legacy state file exist', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: '/nonexistent' });
    assert.equal(await luo.api(), 'none');
    assert.equal(await luo.state(), undefined);
    await assert.rejects(luo.prepare(key, []), /liveupdate=on/);
  });

  it('legacy when <sysfs>/kernel/liveupdate/state exists, and state() reads it', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    await mkdir(path.join(r.sysfs, 'kernel/liveupdate'), { recursive: true });
    await writeFile(path.join(r.sysfs, 'kernel/liveupdate/state'), 'prepared\n');
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: '/nonexistent' });
    assert.equal(await luo.api(), 'legacy');
    assert.equal(await luo.state(), 'prepared');
    await writeFile(path.join(r.sysfs, 'kernel/liveupdate/state'), 'bogus\n');
    await assert.rejects(luo.state(), /unknown LUO state "bogus"/);
  });

  it('the real helper reports none when /dev/liveupdate answers every LUO ioctl with ENOTTY', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    await writeFile(path.join(r.dev, 'liveupdate'), ''); // a regular file: ioctl() is ENOTTY
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: builtHelper() });
    luos.push(luo);
    assert.equal(await luo.api(), 'none');
    const create = await luo.helper.call('create bad/name');
    assert.equal(create.ok, false);
    assert.equal(create.errno, 'EINVAL');
    const mainline = await luo.helper.call('create good-name');
    assert.equal(mainline.errno, 'ENOTTY');
    assert.equal(mainline['at'], 'LIVEUPDATE_IOCTL_CREATE_SESSION', 'error replies name what failed');
    const probe = await luo.probe(['0000:05:00.1']);
    assert.deepEqual(probe.api, 'none');
    assert.match(probe.devices[0]!.reason, /^not preservable: the running kernel has no Live Update Orchestrator/);
  });

  it('mainline when the session ioctls answer: prepare creates a session and preserves each VFIO cdev', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    await writeFile(path.join(r.dev, 'liveupdate'), '');
    for (const [bdf, n] of [['0000:05:00.1', 3], ['0000:41:00.0', 7]] as const) {
      await mkdir(path.join(r.sysfs, 'bus/pci/devices', bdf, 'vfio-dev', `vfio${n}`), { recursive: true });
      await writeFile(path.join(r.sysfs, 'bus/pci/devices', bdf, 'vfio-dev', `vfio${n}`, 'dev'), `511:${n}\n`);
    }
    // A VMM (pid 4242) holds vfio7 open as fd 19: that very file must be preserved.
    await mkdir(path.join(r.proc, '4242/fd'), { recursive: true });
    await symlink('/dev/vfio/devices/vfio7', path.join(r.proc, '4242/fd/19'));
    // The closure's bridge (class 0x0604xx) has no fd: the kernel's PCI core preserves it, prepare leaves it alone.
    await mkdir(path.join(r.sysfs, 'bus/pci/devices/0000:04:01.0'), { recursive: true });
    await writeFile(path.join(r.sysfs, 'bus/pci/devices/0000:04:01.0/class'), '0x060400\n');
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: await fakeHelper(r.dir, 'mainline') });
    luos.push(luo);
    assert.equal(await luo.api(), 'mainline');
    assert.equal(await luo.state(), undefined);
    await luo.prepare(key, ['0000:04:01.0', '0000:05:00.1', '0000:41:00.0']);
    const name = sessionName(key);
    assert.deepEqual(await log(r.dir), [
      'probe',
      `close ${name}`,
      `create ${name}`,
      `preserve-memfd ${name} ${ATTEMPT_KEY_TOKEN} ${Buffer.from(JSON.stringify(key)).toString('hex')}`,
      `preserve ${name} ${deviceToken('0000:05:00.1')} path:${path.join(r.dev, 'vfio/devices/vfio3')}`,
      `preserve ${name} ${deviceToken('0000:41:00.0')} pidfd:4242:19:511:7`,
    ]);
    // In the "new kernel" the record tells retrieve() which session and tokens to ask for.
    const handover = await luo.retrieve();
    assert.deepEqual(handover, { sessions: [name], devices: ['0000:05:00.1', '0000:41:00.0'], attemptKeys: [key] }, 'the key comes back from its memfd');
    await luo.finish(key);
    assert.deepEqual((await log(r.dir)).slice(-3), [`retrieve ${name}`, `finish ${name}`, `close ${name}`]);
    assert.deepEqual(await luo.retrieve(), { sessions: [], devices: [], attemptKeys: [] }, 'finish forgets the attempt');
  });

  it('group-mode VMMs: a device held through the VFIO group/container API is refused, never swapped for a fresh cdev', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    await writeFile(path.join(r.dev, 'liveupdate'), '');
    await mkdir(path.join(r.dev, 'vfio/devices'), { recursive: true });
    // Two endpoints with cdevs the helper could open: 05:00.1 (group 12) and 41:00.0 (group 30).
    for (const [bdf, n, group] of [['0000:05:00.1', 3, '12'], ['0000:41:00.0', 7, '30']] as const) {
      const dir = path.join(r.sysfs, 'bus/pci/devices', bdf);
      await mkdir(path.join(dir, 'vfio-dev', `vfio${n}`), { recursive: true });
      await writeFile(path.join(dir, 'vfio-dev', `vfio${n}`, 'dev'), `511:${n}\n`);
      await mkdir(path.join(r.sysfs, 'kernel/iommu_groups', group), { recursive: true });
      await symlink(`../../../../kernel/iommu_groups/${group}`, path.join(dir, 'iommu_group'));
      await writeFile(path.join(r.dev, 'vfio/devices', `vfio${n}`), '');
    }
    // QEMU (pid 4242) in group mode: the container, the group file and the device fd VFIO_GROUP_GET_DEVICE_FD gave it.
    await mkdir(path.join(r.proc, '4242/fd'), { recursive: true });
    await mkdir(path.join(r.proc, '4242/fdinfo'), { recursive: true });
    await symlink('/dev/vfio/vfio', path.join(r.proc, '4242/fd/17'));
    await symlink('/dev/vfio/12', path.join(r.proc, '4242/fd/18'));
    await symlink('anon_inode:[vfio-device]', path.join(r.proc, '4242/fd/19'));
    await writeFile(path.join(r.proc, '4242/fdinfo/19'), 'pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nvfio-device-syspath: /sys/devices/pci0000:00/0000:00:01.0/0000:05:00.1\n');
    // Another VMM (pid 5151) that got its device fd and closed the group file: fdinfo alone names the device.
    await mkdir(path.join(r.proc, '5151/fd'), { recursive: true });
    await mkdir(path.join(r.proc, '5151/fdinfo'), { recursive: true });
    await symlink('anon_inode:[vfio-device]', path.join(r.proc, '5151/fd/33'));
    await writeFile(path.join(r.proc, '5151/fdinfo/33'), 'pos:\t0\nvfio-device-syspath: /sys/devices/pci0000:40/0000:40:01.1/0000:41:00.0\n');
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: await fakeHelper(r.dir, 'mainline') });
    luos.push(luo);
    const probe = await luo.probe(['0000:05:00.1', '0000:41:00.0']);
    assert.deepEqual(probe.devices.map((d) => d.preservable), [false, false], JSON.stringify(probe.devices));
    assert.match(probe.devices[0]!.reason, /held by pid 4242 \(fd 19\) through the VFIO group\/container API/);
    assert.match(probe.devices[1]!.reason, /held by pid 5151 \(fd 33\) through the VFIO group\/container API/);
    await assert.rejects(luo.prepare(key, ['0000:05:00.1']), /0000:05:00\.1: not preservable: held by pid 4242/);
    assert.equal((await log(r.dir)).filter((c) => c.startsWith('preserve ')).length, 0, 'no unrelated file was preserved');
  });

  it('a cdev a VMM holds is taken with its device number, so the helper can refuse a reused pid or fd', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    await writeFile(path.join(r.dev, 'liveupdate'), '');
    await mkdir(path.join(r.sysfs, 'bus/pci/devices/0000:41:00.0/vfio-dev/vfio7'), { recursive: true });
    await writeFile(path.join(r.sysfs, 'bus/pci/devices/0000:41:00.0/vfio-dev/vfio7/dev'), '511:7\n');
    await mkdir(path.join(r.proc, '4242/fd'), { recursive: true });
    await symlink('/dev/vfio/devices/vfio7', path.join(r.proc, '4242/fd/19'));
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: await fakeHelper(r.dir, 'mainline') });
    luos.push(luo);
    await luo.prepare(key, ['0000:41:00.0']);
    assert.equal((await log(r.dir)).at(-1), `preserve ${sessionName(key)} ${deviceToken('0000:41:00.0')} pidfd:4242:19:511:7`);
  });

  it('mainline prepare closes the session (cancel) when a device cannot be preserved, and reports the kernel errno', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    await writeFile(path.join(r.dev, 'liveupdate'), '');
    await mkdir(path.join(r.sysfs, 'bus/pci/devices/0000:05:00.1/vfio-dev/vfio3'), { recursive: true });
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: await fakeHelper(r.dir, 'mainline', 'preserve') });
    luos.push(luo);
    await assert.rejects(luo.prepare(key, ['0000:05:00.1']), (err: Error & { errno?: string }) => err.errno === 'EBUSY');
    assert.equal((await log(r.dir)).at(-1), `close ${sessionName(key)}`);
    await assert.rejects(luo.prepare(key, ['0000:09:00.0']), /no VFIO device cdev/);
  });

  it('mainline probe: a throwaway session per probe, PRESERVE_FD of the fd prepare would take, closed at once', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    await writeFile(path.join(r.dev, 'liveupdate'), '');
    await mkdir(path.join(r.sysfs, 'bus/pci/devices/0000:05:00.1/vfio-dev/vfio3'), { recursive: true });
    await writeFile(path.join(r.sysfs, 'bus/pci/devices/0000:05:00.1/vfio-dev/vfio3/dev'), '511:3\n');
    await mkdir(path.join(r.sysfs, 'bus/pci/devices/0000:05:00.0'), { recursive: true }); // on nvme: no VFIO cdev
    await mkdir(path.join(r.proc, '4242/fd'), { recursive: true });
    await symlink('/dev/vfio/devices/vfio3', path.join(r.proc, '4242/fd/19'));
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: await fakeHelper(r.dir, 'mainline') });
    luos.push(luo);
    const result = await luo.probe(['0000:05:00.1', '0000:05:00.0', '0000:05:00.1']);
    assert.deepEqual(result.devices.map((d) => [d.bdf, d.preservable]), [['0000:05:00.1', true], ['0000:05:00.0', false]]);
    assert.match(result.devices[1]!.reason, /^not preservable: no VFIO device cdev/);
    const [, create, preserve, close] = await log(r.dir);
    const session = /^create (luo-probe:[0-9a-f]{16})$/.exec(create!)?.[1];
    assert.ok(session, create);
    assert.equal(preserve, `preserve ${session} ${deviceToken('0000:05:00.1')} pidfd:4242:19:511:3`, 'the VMM\'s very file, like prepare');
    assert.equal(close, `close ${session}`);
    assert.equal((await log(r.dir)).length, 4);
    await luo.probe(['0000:05:00.1']);
    assert.notEqual((await log(r.dir))[4], create, 'every probe has its own session name');
  });

  it('mainline probe on Linux 7.2.13: PRESERVE_FD refuses the VFIO fd with ENOENT, and prepare says the same', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    await writeFile(path.join(r.dev, 'liveupdate'), '');
    await mkdir(path.join(r.sysfs, 'bus/pci/devices/0000:05:00.1/vfio-dev/vfio3'), { recursive: true });
    const refused = '{"ok":false,"errno":"ENOENT","code":2,"at":"LIVEUPDATE_SESSION_PRESERVE_FD","message":"LIVEUPDATE_SESSION_PRESERVE_FD: No such file or directory"}';
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: await fakeHelper(r.dir, 'mainline', 'preserve', refused) });
    luos.push(luo);
    assert.deepEqual((await luo.probe(['0000:05:00.1'])).devices, [
      { bdf: '0000:05:00.1', preservable: false, reason: `not preservable: ${VFIO_NOT_PRESERVABLE}` },
    ]);
    assert.match((await log(r.dir)).at(-1)!, /^close luo-probe:/);
    await assert.rejects(luo.prepare(key, ['0000:05:00.1']), (err: Error & { errno?: string }) => err.errno === 'ENOENT' && err.message.includes(`0000:05:00.1: not preservable: ${VFIO_NOT_PRESERVABLE}`));
    assert.equal((await log(r.dir)).at(-1), `close ${sessionName(key)}`);

    // ENOENT from opening the source file is not the kernel refusing VFIO: its own message is kept.
    const missing = '{"ok":false,"errno":"ENOENT","code":2,"at":"path:/dev/vfio/devices/vfio3","message":"path:/dev/vfio/devices/vfio3: No such file or directory"}';
    const other = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: await fakeHelper(r.dir, 'mainline', 'preserve', missing) });
    luos.push(other);
    assert.match((await other.probe(['0000:05:00.1'])).devices[0]!.reason, /^not preservable: path:\/dev\/vfio\/devices\/vfio3: No such file/);
  });

  it('mainline probe fails loudly when its session is not closed cleanly', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    await writeFile(path.join(r.dev, 'liveupdate'), '');
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: await fakeHelper(r.dir, 'mainline', 'close', '{"ok":true,"held":false}') });
    luos.push(luo);
    await assert.rejects(luo.probe(['0000:05:00.1']), /probe session luo-probe:[0-9a-f]+ was not closed cleanly: the helper did not hold it/);
  });

  it('legacy probe reports every device preservable without touching the kernel (no per-fd probe there)', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    await mkdir(path.join(r.sysfs, 'kernel/liveupdate'), { recursive: true });
    await writeFile(path.join(r.sysfs, 'kernel/liveupdate/state'), 'normal\n');
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: '/nonexistent' });
    assert.deepEqual(await luo.probe(['0000:05:00.1']), {
      api: 'legacy',
      devices: [{ bdf: '0000:05:00.1', preservable: true, reason: 'the legacy LUO API has no per-device probe: its PCI core decides at prepare' }],
    });
  });

  it('legacy prepare / cancel / finish drive the global state only in the states the kernel accepts', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    const stateFile = path.join(r.sysfs, 'kernel/liveupdate/state');
    await mkdir(path.dirname(stateFile), { recursive: true });
    await writeFile(stateFile, 'normal\n');
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: await fakeHelper(r.dir, 'legacy-v2') });
    luos.push(luo);
    await luo.prepare(key, ['0000:05:00.1']);
    await writeFile(stateFile, 'prepared\n');
    await luo.prepare(key, ['0000:05:00.1']); // retried: already prepared for this attempt
    await luo.cancel(key);
    await writeFile(stateFile, 'normal\n');
    await luo.cancel(key); // idempotent: nothing to cancel in normal
    assert.deepEqual(await log(r.dir), ['legacy-event prepare', 'legacy-event cancel']);
    await luo.prepare(key, ['0000:05:00.1']);
    await writeFile(stateFile, 'updated\n');
    assert.deepEqual(await luo.retrieve(), { sessions: ['legacy'], devices: ['0000:05:00.1'] });
    await luo.finish(key);
    assert.equal((await log(r.dir)).at(-1), 'legacy-event finish');
  });

  it('/dev/liveupdate is let go of after detection: the real helper does not keep it open', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    const device = path.join(r.dev, 'liveupdate');
    await writeFile(device, ''); // a regular file the helper opens like the device
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: builtHelper() });
    luos.push(luo);
    assert.equal(await luo.api(), 'none');
    assert.deepEqual(await deviceOpeners('/proc', device), [], 'no process holds the device once the API is known');
  });

  it('mainline: the helper (and the device) lives only while an attempt holds a session', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    await writeFile(path.join(r.dev, 'liveupdate'), '');
    await mkdir(path.join(r.sysfs, 'bus/pci/devices/0000:05:00.1/vfio-dev/vfio3'), { recursive: true });
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: await fakeHelper(r.dir, 'mainline') });
    luos.push(luo);
    assert.equal(await luo.api(), 'mainline');
    assert.equal(luo.helper.pid, undefined, 'released after the probe of the API');
    await luo.probe(['0000:05:00.1']);
    assert.equal(luo.helper.pid, undefined, 'released after a device probe');
    await luo.prepare(key, ['0000:05:00.1']);
    assert.ok(luo.helper.pid, 'held while prepared');
    assert.deepEqual(await luo.checkHeld(key), { held: true });
    assert.equal((await log(r.dir)).at(-1), `name ${sessionName(key)}`, 'the proof asks the kernel for the session fd\'s name (GET_NAME)');
    await luo.cancel(key);
    assert.equal(luo.helper.pid, undefined, 'released after cancel');
  });

  it('mainline: a helper that died while Prepared is not the holder any more, even after a silent respawn (HelperLost)', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    await writeFile(path.join(r.dev, 'liveupdate'), '');
    await mkdir(path.join(r.sysfs, 'bus/pci/devices/0000:05:00.1/vfio-dev/vfio3'), { recursive: true });
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: await fakeHelper(r.dir, 'mainline') });
    luos.push(luo);
    await luo.prepare(key, ['0000:05:00.1']);
    const pid = luo.helper.pid!;
    process.kill(pid, 'SIGKILL');
    await waitFor('the helper exit is seen', async () => luo.helper.pid === undefined, 5_000, 10);
    await luo.helper.call('probe'); // anything that respawns it, as the next LUO call would
    assert.ok(luo.helper.pid && luo.helper.pid !== pid);
    const lost = await luo.checkHeld(key);
    assert.equal(lost.held, false);
    assert.match(!lost.held ? lost.why : '', new RegExp(`luo-helper pid ${pid}, which held session ${sessionName(key)}, is gone \\(pid ${luo.helper.pid} runs now\\)`));
  });

  it('a /dev/liveupdate another process holds: LuoBusyError naming its pid when the API is detected', async () => {
    const r = await roots();
    cleanup.push(r.dir);
    const device = path.join(r.dev, 'liveupdate');
    await writeFile(device, '');
    await mkdir(path.join(r.proc, '777/fd'), { recursive: true });
    await symlink(device, path.join(r.proc, '777/fd/3'));
    const busy = `{"ok":false,"errno":"EBUSY","code":16,"at":"${device}","message":"${device}: Device or resource busy"}`;
    const luo = new LinuxLuo({ sysfsRoot: r.sysfs, procRoot: r.proc, devRoot: r.dev, stateDir: r.state, helperPath: await fakeHelper(r.dir, 'mainline', 'probe', busy) });
    luos.push(luo);
    await assert.rejects(luo.api(), (err: unknown) => err instanceof LuoBusyError && err.pids.join() === '777' && err.message.includes(`${device} is busy (EBUSY), held by pid 777`));
  });

  it('session names are deterministic, short enough for the kernel, and tokens pack the BDF', () => {
    assert.equal(sessionName(key), `luo-op:${key.planUid}:2`);
    const long = sessionName({ ...key, planUid: 'x'.repeat(80) });
    assert.ok(long.length < 64);
    assert.equal(long, sessionName({ ...key, planUid: 'x'.repeat(80) }));
    assert.notEqual(long, sessionName({ ...key, planUid: 'y'.repeat(80) }));
    assert.equal(deviceToken('0000:05:00.1'), String(0x05 * 0x100 + 1));
    assert.equal(deviceToken('0001:00:1f.7'), String(0x10000 + 0x1f * 8 + 7));
    assert.throws(() => deviceToken('5:0.1'), /not a PCI address/);
  });
});
