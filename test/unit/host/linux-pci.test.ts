// The Linux PCI reader on hand-written trees in the kernel's sysfs layout.
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readBusMaster, readPciInventory, UnreadableRootError } from '../../../src/host/linux/pci';
import { planPreservation } from '../../../src/pci/preservation';
import type { Inventory } from '../../../src/host/types';
import { buildKernelTree, buildProc, tempDir, type HandDevice } from './kernel-tree';

const BM = 0x0006; // memory space + bus master
const rootPort = (path: string, extra: Partial<HandDevice> = {}): HandDevice => ({
  path,
  vendor: '0x8086\n',
  device: '0x347a\n',
  class: '0x060400\n',
  command: BM,
  driver: 'pcieport',
  ...extra,
});

async function inventoryOf(devices: HandDevice[], open: Record<string, string[]> = {}): Promise<Inventory> {
  const tmp = await tempDir('lu-kernel-');
  try {
    await buildKernelTree(join(tmp.dir, 'sys'), devices);
    await buildProc(join(tmp.dir, 'proc'), open);
    return await readPciInventory({ sysfsRoot: join(tmp.dir, 'sys'), procRoot: join(tmp.dir, 'proc') });
  } finally {
    await tmp.remove();
  }
}

describe('the seed: Intel 8086:1457 VF 0000:05:00.1 below root port 0000:04:01.0 on root bus pci0000:04', () => {
  let inventory: Inventory;
  before(async () => {
    inventory = await inventoryOf([
      rootPort('pci0000:04/0000:04:01.0', { iommuGroup: '20' }),
      {
        path: 'pci0000:04/0000:04:01.0/0000:05:00.0',
        vendor: '0x8086\n',
        device: '0x1456\n',
        class: '0x010802\n',
        command: BM,
        driver: 'nvme',
        iommuGroup: '21',
        virtfns: ['0000:05:00.1'],
      },
      {
        path: 'pci0000:04/0000:04:01.0/0000:05:00.1',
        vendor: '0x8086\n',
        device: '0x1457\n',
        class: '0x010802\n',
        command: 0x0004,
        driver: 'vfio-pci',
        iommuGroup: '22',
        physfn: '0000:05:00.0',
        vfio: 'vfio3',
      },
    ]);
  });

  it('reads every attribute the kernel exposes', () => {
    assert.deepEqual(inventory.errors, []);
    const vf = inventory.devices.find((d) => d.bdf === '0000:05:00.1');
    assert.deepEqual(vf, {
      bdf: '0000:05:00.1',
      vendor: '8086',
      device: '1457',
      class: '010802',
      driver: 'vfio-pci',
      driverOverride: null,
      iommuGroup: '22',
      busMaster: true,
      bridge: false,
      upstream: ['0000:04:01.0'],
      physfn: '0000:05:00.0',
      virtfns: [],
      vfioDevice: 'vfio3',
      inUse: false,
    });
    assert.deepEqual(inventory.devices.find((d) => d.bdf === '0000:05:00.0')?.virtfns, ['0000:05:00.1']);
    const port = inventory.devices.find((d) => d.bdf === '0000:04:01.0');
    assert.equal(port?.bridge, true);
    assert.deepEqual(port?.upstream, [], 'the root bus pci0000:04 is not a device');
  });

  it('gives the VF busmaster and its root port busmaster-bridge, exactly like the seed log (flags 1 and 2)', () => {
    const plan = planPreservation(inventory);
    assert.deepEqual(plan.preserve, [
      { bdf: '0000:04:01.0', flags: ['busmaster-bridge'] },
      { bdf: '0000:05:00.1', flags: ['busmaster'], physfn: '0000:05:00.0' },
    ]);
    assert.deepEqual(plan.errors, []);
    assert.match(plan.notes.join('\n'), /0000:05:00\.1 is an SR-IOV virtual function of 0000:05:00\.0.*rejects VFs/);
  });
});

describe('chains', () => {
  it('takes every bridge of the resolved path, nearest first (design example with two bridges)', async () => {
    const inventory = await inventoryOf([
      rootPort('pci0000:00/0000:00:01.0'),
      rootPort('pci0000:00/0000:00:01.0/0000:04:01.0', { vendor: '0x10b5\n', device: '0x8747\n' }),
      {
        path: 'pci0000:00/0000:00:01.0/0000:04:01.0/0000:05:00.1',
        vendor: '0x8086\n',
        device: '0x1457\n',
        class: '0x010802\n',
        driver: 'vfio-pci',
      },
    ]);
    assert.deepEqual(inventory.devices.find((d) => d.bdf === '0000:05:00.1')?.upstream, ['0000:04:01.0', '0000:00:01.0']);
    assert.deepEqual(
      planPreservation(inventory).preserve.map((p) => [p.bdf, p.flags]),
      [
        ['0000:00:01.0', ['busmaster-bridge']],
        ['0000:04:01.0', ['busmaster-bridge']],
        ['0000:05:00.1', ['busmaster']],
      ],
    );
  });

  it('handles several domains and root buses and platform directories above the root bus', async () => {
    const inventory = await inventoryOf([
      rootPort('pci0000:00/0000:00:01.0'),
      rootPort('platform/soc/pci0001:80/0001:80:02.0'),
      { path: 'platform/soc/pci0001:80/0001:80:02.0/0001:81:00.0', vendor: '0x15b3\n', device: '0x101d\n', class: '0x020000\n', driver: 'vfio-pci' },
    ]);
    assert.deepEqual(inventory.errors, []);
    assert.deepEqual(
      inventory.devices.map((d) => [d.bdf, d.upstream]),
      [
        ['0000:00:01.0', []],
        ['0001:80:02.0', []],
        ['0001:81:00.0', ['0001:80:02.0']],
      ],
    );
  });
});

describe('in-use detection from <proc>/*/fd', () => {
  const devices: HandDevice[] = [
    rootPort('pci0000:00/0000:00:01.0', { iommuGroup: '1' }),
    { path: 'pci0000:00/0000:00:01.0/0000:01:00.0', vendor: '0x10de\n', device: '0x2330\n', class: '0x030200\n', driver: 'vfio-pci', iommuGroup: '7', vfio: 'vfio0' },
    { path: 'pci0000:00/0000:00:01.0/0000:01:00.1', vendor: '0x10de\n', device: '0x22a3\n', class: '0x040300\n', driver: 'vfio-pci', iommuGroup: '7', vfio: 'vfio1' },
    { path: 'pci0000:00/0000:00:02.0', vendor: '0x15b3\n', device: '0x101d\n', class: '0x020000\n', driver: 'vfio-pci', iommuGroup: '8', vfio: 'vfio2' },
  ];
  const inUse = (inventory: Inventory) => inventory.devices.filter((d) => d.inUse).map((d) => d.bdf);

  it('marks every device of an open VFIO group', async () => {
    const inventory = await inventoryOf(devices, { '4242': ['/dev/null', '/dev/vfio/vfio', '/dev/vfio/7'] });
    assert.deepEqual(inUse(inventory), ['0000:01:00.0', '0000:01:00.1']);
  });

  it('maps an open VFIO cdev to its device through vfio-dev/vfio<N>', async () => {
    const inventory = await inventoryOf(devices, { '1': ['socket:[123]'], '77': ['/dev/vfio/devices/vfio2', '/dev/iommu'] });
    assert.deepEqual(inUse(inventory), ['0000:00:02.0']);
  });

  it('marks nothing when no process holds VFIO files', async () => {
    assert.deepEqual(inUse(await inventoryOf(devices, { '1': ['/dev/vfio/vfio', '/dev/vfio/71'] })), []);
  });
});

describe('bad input becomes an error for that device only', () => {
  const healthy: HandDevice = { path: 'pci0000:00/0000:00:02.0', vendor: '0x15b3\n', device: '0x101d\n', class: '0x020000\n', driver: 'vfio-pci' };
  const cases: [string, HandDevice, string][] = [
    ['missing config', { path: 'pci0000:00/0000:00:03.0', vendor: '0x8086\n', device: '0x0001\n', class: '0x010802\n', configSize: 0 }, 'missing-config'],
    ['short config', { path: 'pci0000:00/0000:00:03.0', vendor: '0x8086\n', device: '0x0001\n', class: '0x010802\n', configSize: 5 }, 'short-config'],
    ['dangling driver symlink', { path: 'pci0000:00/0000:00:03.0', vendor: '0x8086\n', device: '0x0001\n', class: '0x010802\n', driver: 'gone', danglingDriver: true }, 'dangling-symlink'],
    ['unknown class', { path: 'pci0000:00/0000:00:03.0', vendor: '0x8086\n', device: '0x0001\n', class: 'bogus\n' }, 'unknown-class'],
    ['missing class', { path: 'pci0000:00/0000:00:03.0', vendor: '0x8086\n', device: '0x0001\n' }, 'unknown-class'],
    ['malformed vendor', { path: 'pci0000:00/0000:00:03.0', vendor: '8086\n', device: '0x0001\n', class: '0x010802\n' }, 'bad-id'],
  ];
  for (const [name, broken, reason] of cases) {
    it(`${name} → ${reason}`, async () => {
      const inventory = await inventoryOf([healthy, broken]);
      assert.deepEqual(inventory.devices.map((d) => d.bdf), ['0000:00:02.0']);
      assert.equal(inventory.errors.length, 1);
      assert.equal(inventory.errors[0]!.bdf, '0000:00:03.0');
      assert.equal(inventory.errors[0]!.reason, reason);
    });
  }

  it('reports a dangling bus/pci/devices link and a non-address entry', async () => {
    const tmp = await tempDir('lu-kernel-');
    after(tmp.remove);
    const sys = join(tmp.dir, 'sys');
    await buildKernelTree(sys, [healthy]);
    await symlink('../../../devices/pci0000:00/0000:00:09.0', join(sys, 'bus/pci/devices/0000:00:09.0'));
    await mkdir(join(sys, 'bus/pci/devices/junk'));
    const inventory = await readPciInventory({ sysfsRoot: sys, procRoot: join(tmp.dir, 'proc-absent') }).catch((e: unknown) => e);
    assert.ok(inventory instanceof UnreadableRootError, 'an absent proc root is an unreadable root');
    await buildProc(join(tmp.dir, 'proc'), {});
    const read = await readPciInventory({ sysfsRoot: sys, procRoot: join(tmp.dir, 'proc') });
    assert.deepEqual(read.devices.map((d) => d.bdf), ['0000:00:02.0']);
    assert.deepEqual(
      read.errors.map((e) => [e.bdf, e.reason]),
      [
        ['0000:00:09.0', 'dangling-symlink'],
        ['junk', 'bad-bdf'],
      ],
    );
  });

  it('an endpoint below an unreadable bridge cannot be preserved, and says why', async () => {
    const inventory = await inventoryOf([
      rootPort('pci0000:00/0000:00:01.0', { configSize: 0 }),
      { path: 'pci0000:00/0000:00:01.0/0000:01:00.0', vendor: '0x10de\n', device: '0x2330\n', class: '0x030200\n', driver: 'vfio-pci' },
    ]);
    const plan = planPreservation(inventory);
    assert.deepEqual(plan.preserve, []);
    assert.deepEqual(plan.errors.map((e) => [e.bdf, e.reason]), [['0000:01:00.0', 'unresolved-chain']]);
    assert.match(plan.errors[0]!.message, /0000:00:01\.0 .*could not be read/);
  });

  it('an unreadable sysfs root throws UnreadableRootError', async () => {
    await assert.rejects(readPciInventory({ sysfsRoot: '/nonexistent/sys', procRoot: '/proc' }), UnreadableRootError);
  });
});

describe('readBusMaster', () => {
  it('decodes bit 2 of the little-endian command register, ignoring the other bits', async () => {
    const tmp = await tempDir('lu-kernel-');
    after(tmp.remove);
    const sys = join(tmp.dir, 'sys');
    await buildKernelTree(sys, [
      { path: 'pci0000:00/0000:00:01.0', class: '0x030200\n', command: 0x0004 },
      { path: 'pci0000:00/0000:00:02.0', class: '0x030200\n', command: 0xfffb },
      { path: 'pci0000:00/0000:00:03.0', class: '0x030200\n', command: 0x0400 },
      { path: 'pci0000:00/0000:00:04.0', class: '0x030200\n', configSize: 40 },
    ]);
    assert.equal(await readBusMaster(sys, '0000:00:01.0'), true);
    assert.equal(await readBusMaster(sys, '0000:00:02.0'), false);
    assert.equal(await readBusMaster(sys, '0000:00:03.0'), false, 'bit 10 (interrupt disable) is not bus master');
    await assert.rejects(readBusMaster(sys, '0000:00:04.0'), /short-config/);
    await assert.rejects(readBusMaster(sys, '0000:00:05.0'), /missing-config/);
    await assert.rejects(readBusMaster(sys, '0:0:5.0'), /not a PCI address/);
    await writeFile(join(sys, 'devices/pci0000:00/0000:00:01.0/config'), Buffer.from([0, 0, 0, 0, 0x00, 0x04]));
    await assert.rejects(readBusMaster(sys, '0000:00:01.0'), /short-config/);
  });
});
