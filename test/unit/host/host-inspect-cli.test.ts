// `liveupdate host inspect` and `liveupdate sim sysfs` end to end through the real binary entry point.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { inspectReport } from '../../../src/cli/host-inspect';
import { tempDir } from './kernel-tree';

type Report = ReturnType<typeof inspectReport>;

const REPO = join(__dirname, '../../..');
const TOPOLOGIES = join(REPO, 'src/host/sim/topologies');

function liveupdate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', 'ts-node/register', 'src/cli/main.ts', ...args],
      { cwd: REPO, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    );
  });
}

describe('liveupdate sim sysfs + host inspect', () => {
  let dir: string;
  let remove: () => Promise<void>;
  let sys: string;
  let proc: string;
  before(async () => {
    ({ dir, remove } = await tempDir('lu-cli-'));
    sys = join(dir, 'sys');
    proc = join(dir, 'proc');
    // A VMM holding the seed VF's VFIO cdev (vfio0 is the first vfio-pci device of the topology).
    await mkdir(join(proc, '4242/fd'), { recursive: true });
    await symlink('/dev/vfio/devices/vfio0', join(proc, '4242/fd/17'));
    const made = await liveupdate('sim', 'sysfs', '--topology', join(TOPOLOGIES, 'nvme-sriov.json'), '--out', sys);
    assert.equal(made.code, 0, made.stderr);
  });
  after(() => remove());

  it('--json follows the contract and exits 0 when there are no errors', async () => {
    const { code, stdout } = await liveupdate('host', 'inspect', '--sysfs-root', sys, '--proc-root', proc, '--json');
    assert.equal(code, 0);
    const report = JSON.parse(stdout) as Report;
    assert.deepEqual(Object.keys(report).slice(0, 3), ['devices', 'preserve', 'errors']);
    const contract = ['bdf', 'vendor', 'device', 'class', 'driver', 'busMaster', 'bridge', 'upstream', 'iommuGroup', 'physfn', 'inUse'];
    for (const d of report.devices) {
      assert.deepEqual(Object.keys(d).slice(0, contract.length), contract);
      assert.match(d.vendor, /^[0-9a-f]{4}$/);
      assert.match(d.device, /^[0-9a-f]{4}$/);
      assert.match(d.class, /^[0-9a-f]{6}$/);
      for (const nullable of ['driver', 'iommuGroup', 'physfn'] as const) assert.ok(d[nullable] === null || typeof d[nullable] === 'string');
    }
    const vf = report.devices.find((d) => d.bdf === '0000:05:00.1');
    assert.ok(vf);
    assert.deepEqual(
      [vf.vendor, vf.device, vf.driver, vf.busMaster, vf.upstream, vf.physfn, vf.inUse],
      ['8086', '1457', 'vfio-pci', true, ['0000:04:01.0'], '0000:05:00.0', true],
    );
    assert.equal(report.devices.find((d) => d.bdf === '0000:05:00.3')?.driver, null);
    assert.deepEqual(
      report.preserve.map((p) => [p.bdf, p.flags]),
      [
        ['0000:04:01.0', ['busmaster-bridge']],
        ['0000:05:00.1', ['busmaster']],
        ['0000:05:00.2', ['busmaster']],
      ],
    );
    assert.deepEqual(report.errors, []);
  });

  it('--match of a device that cannot be preserved lists it in errors and exits 1', async () => {
    const { code, stdout } = await liveupdate('host', 'inspect', '--sysfs-root', sys, '--proc-root', proc, '--match', '144D:A80A', '--json');
    assert.equal(code, 1);
    const report = JSON.parse(stdout) as Report;
    assert.deepEqual(report.preserve, []);
    assert.deepEqual(report.errors, [
      { bdf: '0000:01:00.0', reason: 'not-vfio', message: 'bound to nvme, not vfio-pci: bind it to vfio-pci first' },
    ]);
  });

  it('prints an aligned table without --json', async () => {
    const { code, stdout } = await liveupdate('host', 'inspect', '--sysfs-root', sys, '--proc-root', proc);
    assert.equal(code, 0);
    const lines = stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^BDF +ID +CLASS +DRIVER +BM +KIND +IOMMU +IN USE +PRESERVE +UPSTREAM/);
    const row = lines.find((l) => l.startsWith('0000:05:00.1'))!;
    assert.match(row, /8086:1457 +010802 +vfio-pci +on +vf of 0000:05:00\.0 .* yes +busmaster +0000:04:01\.0$/);
    const column = lines[0]!.indexOf('PRESERVE');
    assert.equal(row.indexOf('busmaster'), column, 'columns line up');
    assert.ok(stdout.includes('notes:'), 'the VF note is shown');
  });

  it('a broken device is an error, exit 1, and the rest is still listed', async () => {
    const { dir: broken, remove: removeBroken } = await tempDir('lu-cli-');
    try {
      const made = await liveupdate('sim', 'sysfs', '--topology', join(TOPOLOGIES, 'mixed-switch.json'), '--out', join(broken, 'sys'));
      assert.equal(made.code, 0, made.stderr);
      await writeFile(join(broken, 'sys/bus/pci/devices/0000:05:00.0/config'), Buffer.alloc(10));
      const { code, stdout } = await liveupdate('host', 'inspect', '--sysfs-root', join(broken, 'sys'), '--proc-root', proc, '--json');
      assert.equal(code, 1);
      const report = JSON.parse(stdout) as Report;
      assert.deepEqual(report.errors.map((e) => [e.bdf, e.reason]), [['0000:05:00.0', 'short-config']]);
      assert.equal(report.devices.length, 12);
    } finally {
      await removeBroken();
    }
  });

  it('exits 2 on bad usage and on an unreadable root', async () => {
    for (const args of [
      ['host', 'inspect', '--match', '8086'],
      ['host', 'inspect', '--bogus'],
      ['host', 'inspect', '--sysfs-root', join(dir, 'missing'), '--proc-root', proc],
      ['host', 'inspect', '--sysfs-root', sys, '--proc-root', join(dir, 'missing')],
      ['sim', 'sysfs', '--topology', join(TOPOLOGIES, 'gpu8.json')],
    ]) {
      const { code, stderr } = await liveupdate(...args);
      assert.equal(code, 2, args.join(' '));
      assert.ok(stderr.length > 0, args.join(' '));
    }
  });

  it('sim sysfs rejects a malformed topology with the path of the bad field (exit 2)', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ roots: [{ bus: '00', ports: [{ vendor: '8086', device: '347a', devices: [{ kind: 'endpoint', vendor: '10de', device: '2330', class: '030200', driver: 'nouveau' }] }] }] }));
    const { code, stderr } = await liveupdate('sim', 'sysfs', '--topology', file, '--out', join(dir, 'never'));
    assert.equal(code, 2);
    assert.match(stderr, /topology\.roots\[0\]\.ports\[0\]\.devices\[0\]\.driver: /);
  });
});
