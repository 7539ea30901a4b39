import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { KexecError, LinuxKexec, withoutParameters } from '../../../src/host/linux/kexec';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const noCmdline = { append: [], remove: [], reuse: false };

/**
 * A fake kexec-tools that records each argv (one line, NUL-separated) and keeps kexec-tools' behaviour the tests
 * depend on: `-l` stages a kernel (<sys>/kernel/kexec_loaded = 1); `-e` brings every network interface down first
 * unless `-x` is given (marker file `ifdown`); `-u` without `-s` goes through kexec_load, which lockdown refuses when
 * LOCKDOWN is set; `-s -u` unloads through kexec_file_load. Any argument listed in FAIL makes it fail.
 */
async function setup(fail = '', options: { lockdown?: boolean; unloadKeepsKernel?: boolean } = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'kexec-'));
  const images = path.join(dir, 'images');
  const proc = path.join(dir, 'proc');
  const sys = path.join(dir, 'sys');
  await mkdir(images);
  await mkdir(proc);
  await mkdir(path.join(sys, 'kernel'), { recursive: true });
  await writeFile(path.join(sys, 'kernel/kexec_loaded'), '0\n');
  await writeFile(path.join(images, 'vmlinuz-6.19.2'), 'kernel-bytes');
  await writeFile(path.join(images, 'initrd-6.19.2'), 'initrd-bytes');
  await writeFile(path.join(proc, 'cmdline'), 'BOOT_IMAGE=/vmlinuz-6.18 root=/dev/sda1 ro quiet iommu=pt console=ttyS0\n');
  const fake = path.join(dir, 'kexec');
  await writeFile(
    fake,
    `#!/usr/bin/env bash
printf '%s\\0' "$@" >> "${dir}/argv.log"; echo >> "${dir}/argv.log"
for arg in "$@"; do [[ " ${fail} " == *" $arg "* ]] && { echo "kexec failed: Device or resource busy" >&2; exit 1; }; done
args=" $* "
case "$args" in
  *" -l "*) echo 1 > "${sys}/kernel/kexec_loaded" ;;
  *" -e "*) [[ "$args" == *" -x "* ]] || touch "${dir}/ifdown"; echo "kexec failed: Device or resource busy" >&2; exit 1 ;;
  *" -u "*)
    if [[ "$args" != *" -s "* && -n "${options.lockdown ? 1 : ''}" ]]; then echo "kexec_load failed: Operation not permitted" >&2; exit 1; fi
    [[ -n "${options.unloadKeepsKernel ? 1 : ''}" ]] || echo 0 > "${sys}/kernel/kexec_loaded" ;;
esac
exit 0
`,
  );
  await chmod(fake, 0o755);
  const kexec = new LinuxKexec({ imageDir: images, kexecPath: fake, procRoot: proc, sysfsRoot: sys });
  const calls = async () =>
    (await readFile(path.join(dir, 'argv.log'), 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('\0').slice(0, -1));
  const networkDown = () => access(path.join(dir, 'ifdown')).then(() => true, () => false);
  const loaded = async () => (await readFile(path.join(sys, 'kernel/kexec_loaded'), 'utf8')).trim();
  return { dir, images, kexec, calls, networkDown, loaded };
}

/** The command line kexec-tools hands the next kernel for one recorded `kexec -l` argv, given the running one. */
function nextKernelCmdline(argv: string[], running: string): string {
  const append = argv.find((a) => a.startsWith('--append='))?.slice('--append='.length) ?? '';
  if (!argv.includes('--reuse-cmdline')) return append;
  const reused = running.trim().split(/\s+/).filter((p) => !p.startsWith('BOOT_IMAGE='));
  return [...reused, ...(append ? [append] : [])].join(' ');
}

describe('Linux kexec', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('loads file-based with initrd and an explicit command line after checking the sha256', async () => {
    const t = await setup();
    dirs.push(t.dir);
    const image = path.join(t.images, 'vmlinuz-6.19.2');
    await t.kexec.load({ image, initrd: path.join(t.images, 'initrd-6.19.2'), sha256: sha('kernel-bytes'), initrdSha256: sha('initrd-bytes'), cmdline: { append: ['liveupdate=on', 'kho=on'], remove: [], reuse: false } });
    assert.deepEqual(await t.calls(), [['-l', '-s', image, `--initrd=${path.join(t.images, 'initrd-6.19.2')}`, '--append=liveupdate=on kho=on']]);
  });

  it('reuses the running command line (rebuilt, never --reuse-cmdline), without the parameters it removes', async () => {
    const t = await setup();
    dirs.push(t.dir);
    const image = path.join(t.images, 'vmlinuz-6.19.2');
    await t.kexec.load({ image, sha256: sha('kernel-bytes'), cmdline: { append: ['liveupdate=on'], remove: [], reuse: true } });
    await t.kexec.load({ image, sha256: sha('kernel-bytes').toUpperCase(), cmdline: { append: ['liveupdate=on'], remove: ['quiet', 'console'], reuse: true } });
    assert.deepEqual(await t.calls(), [
      ['-l', '-s', image, '--append=root=/dev/sda1 ro quiet iommu=pt console=ttyS0 liveupdate=on'],
      ['-l', '-s', image, '--append=root=/dev/sda1 ro iommu=pt liveupdate=on'],
    ]);
  });

  it('refuses an image whose sha256 differs, without running kexec', async () => {
    const t = await setup();
    dirs.push(t.dir);
    await assert.rejects(
      t.kexec.load({ image: path.join(t.images, 'vmlinuz-6.19.2'), sha256: sha('other'), cmdline: noCmdline }),
      (err: KexecError) => err.reason === 'ChecksumMismatch' && /refusing/.test(err.message),
    );
    assert.deepEqual(await t.calls(), []);
  });

  it('refuses an initrd whose sha256 differs or is not given, without running kexec (issue 18 item 2)', async () => {
    const t = await setup();
    dirs.push(t.dir);
    const request = { image: path.join(t.images, 'vmlinuz-6.19.2'), initrd: path.join(t.images, 'initrd-6.19.2'), sha256: sha('kernel-bytes'), cmdline: noCmdline };
    await assert.rejects(t.kexec.load({ ...request, initrdSha256: sha('other initrd') }), (err: KexecError) => err.reason === 'ChecksumMismatch' && /initrd-6\.19\.2: sha256 is .*expected initrdSha256/.test(err.message));
    await assert.rejects(t.kexec.load(request), (err: KexecError) => err.reason === 'ChecksumMismatch' && /no initrdSha256 given/.test(err.message));
    assert.deepEqual(await t.calls(), []);
  });

  it('refuses paths outside the image directory, including through symlinks and ..', async () => {
    const t = await setup();
    dirs.push(t.dir);
    const outside = path.join(t.dir, 'evil');
    await writeFile(outside, 'kernel-bytes');
    await symlink(outside, path.join(t.images, 'vmlinuz-link'));
    const attempts = [outside, path.join(t.images, 'vmlinuz-link'), path.join(t.images, '..', 'evil'), path.join(t.images, 'missing')];
    for (const image of attempts)
      await assert.rejects(t.kexec.load({ image, sha256: sha('kernel-bytes'), cmdline: noCmdline }), (err: KexecError) => err.reason === 'OutsideImageDir', image);
    await assert.rejects(
      t.kexec.load({ image: path.join(t.images, 'vmlinuz-6.19.2'), initrd: outside, sha256: sha('kernel-bytes'), cmdline: noCmdline }),
      (err: KexecError) => err.reason === 'OutsideImageDir',
    );
    // A sibling directory sharing the prefix ("images-old") is outside too.
    await mkdir(`${t.images}-old`);
    await writeFile(path.join(`${t.images}-old`, 'vmlinuz'), 'kernel-bytes');
    await assert.rejects(t.kexec.load({ image: path.join(`${t.images}-old`, 'vmlinuz'), sha256: sha('kernel-bytes'), cmdline: noCmdline }), /outside the image directory/);
    assert.deepEqual(await t.calls(), []);
  });

  it('rejects command-line arguments with whitespace', async () => {
    const t = await setup();
    dirs.push(t.dir);
    await assert.rejects(
      t.kexec.load({ image: path.join(t.images, 'vmlinuz-6.19.2'), sha256: sha('kernel-bytes'), cmdline: { append: ['a b'], remove: [], reuse: false } }),
      (err: KexecError) => err.reason === 'BadCmdline',
    );
  });

  it('executes with kexec -e -x (never systemctl, no ifdown): a refused kexec leaves the network up and says why', async () => {
    const t = await setup();
    dirs.push(t.dir);
    await assert.rejects(t.kexec.execute(), (err: KexecError) => err.reason === 'KexecFailed' && /Device or resource busy/.test(err.message));
    assert.deepEqual(await t.calls(), [['-e', '-x']]);
    assert.equal(await t.networkDown(), false, 'kexec-tools took the network down: the refusal could never be reported');
  });

  it('unloads through kexec_file_load (kexec -s -u), which lockdown allows, and checks the kernel is no longer staged', async () => {
    const t = await setup('', { lockdown: true });
    dirs.push(t.dir);
    await t.kexec.load({ image: path.join(t.images, 'vmlinuz-6.19.2'), sha256: sha('kernel-bytes'), cmdline: noCmdline });
    assert.equal(await t.loaded(), '1');
    await t.kexec.unload();
    assert.equal(await t.loaded(), '0');
    assert.deepEqual((await t.calls()).at(-1), ['-s', '-u']);
  });

  it('reports a kernel that stays loaded after the unload, and a failing kexec -u', async () => {
    const kept = await setup('', { unloadKeepsKernel: true });
    dirs.push(kept.dir);
    await kept.kexec.load({ image: path.join(kept.images, 'vmlinuz-6.19.2'), sha256: sha('kernel-bytes'), cmdline: noCmdline });
    await assert.rejects(kept.kexec.unload(), (err: KexecError) => err.reason === 'KexecStillLoaded' && /kexec_loaded is still 1/.test(err.message));
    const failing = await setup('-u');
    dirs.push(failing.dir);
    await assert.rejects(failing.kexec.unload(), (err: KexecError) => err.reason === 'KexecFailed' && /Device or resource busy/.test(err.message));
    const missing = new LinuxKexec({ imageDir: failing.images, kexecPath: path.join(failing.dir, 'no-such-kexec') });
    await assert.rejects(missing.unload(), /install kexec-tools/);
  });

  it('reuse + append reaches a fixed point: update after update, the next kernel gets the same command line', async () => {
    const t = await setup();
    dirs.push(t.dir);
    const image = path.join(t.images, 'vmlinuz-6.19.2');
    const cmdlineFile = path.join(t.dir, 'proc/cmdline');
    const booted: string[] = [];
    for (let update = 0; update < 3; update++) {
      await t.kexec.load({ image, sha256: sha('kernel-bytes'), cmdline: { append: ['liveupdate=on', 'kho=on'], remove: [], reuse: true } });
      const next = nextKernelCmdline((await t.calls()).at(-1)!, await readFile(cmdlineFile, 'utf8'));
      booted.push(next);
      await writeFile(cmdlineFile, `${next}\n`); // what the kexec'd kernel shows in /proc/cmdline
    }
    assert.deepEqual(booted, Array(3).fill('root=/dev/sda1 ro quiet iommu=pt console=ttyS0 liveupdate=on kho=on'));
  });

  it('reuse keeps a quoted parameter whole and drops only exact repeats of what append adds', async () => {
    const t = await setup();
    dirs.push(t.dir);
    await writeFile(path.join(t.dir, 'proc/cmdline'), 'root=/dev/sda1 dyndbg="file  kexec.c +p" liveupdate=on console=ttyS0 console=tty0\n');
    const image = path.join(t.images, 'vmlinuz-6.19.2');
    await t.kexec.load({ image, sha256: sha('kernel-bytes'), cmdline: { append: ['liveupdate=on', 'console=ttyS0'], remove: ['root'], reuse: true } });
    assert.deepEqual(await t.calls(), [['-l', '-s', image, '--append=dyndbg="file  kexec.c +p" console=tty0 liveupdate=on console=ttyS0']]);
  });

  it('withoutParameters drops bare names and their name=value forms, and exact name=value pairs only', () => {
    assert.deepEqual(withoutParameters(['quiet', 'console=ttyS0', 'console=tty0', 'ro'], ['quiet', 'console=tty0']), ['console=ttyS0', 'ro']);
    assert.deepEqual(withoutParameters(['consoleblank=0', 'console=x'], ['console']), ['consoleblank=0']);
  });
});
