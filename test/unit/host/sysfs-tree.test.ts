// The simulated sysfs tree: the kernel's exact layout, read back unchanged by the Linux reader.
import assert from 'node:assert/strict';
import { readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { readBusMaster, readPciInventory } from '../../../src/host/linux/pci';
import { planPreservation } from '../../../src/pci/preservation';
import { setBusMaster, writeSysfsTree } from '../../../src/host/sim/sysfs-tree';
import { loadTopologyFile, parseTopology, type SimDevice } from '../../../src/host/sim/topology';
import { buildProc, tempDir } from './kernel-tree';
import { topologyArbitrary } from './topology-arbitrary';

const TOPOLOGIES = join(__dirname, '../../../src/host/sim/topologies');

async function withTree<T>(file: string, use: (sys: string, devices: SimDevice[], proc: string) => Promise<T>): Promise<T> {
  const tmp = await tempDir('lu-sim-');
  try {
    const devices = await writeSysfsTree(await loadTopologyFile(join(TOPOLOGIES, file)), join(tmp.dir, 'sys'));
    await buildProc(join(tmp.dir, 'proc'), {});
    return await use(join(tmp.dir, 'sys'), devices, join(tmp.dir, 'proc'));
  } finally {
    await tmp.remove();
  }
}

describe('writeSysfsTree', () => {
  it('lays out the seed VF exactly like the kernel', () =>
    withTree('nvme-sriov.json', async (sys) => {
      const vfDir = join(sys, 'devices/pci0000:04/0000:04:01.0/0000:05:00.1');
      assert.equal(await readlink(join(sys, 'bus/pci/devices/0000:05:00.1')), '../../../devices/pci0000:04/0000:04:01.0/0000:05:00.1');
      assert.equal(await readlink(join(vfDir, 'driver')), '../../../../bus/pci/drivers/vfio-pci');
      assert.match(await readlink(join(vfDir, 'iommu_group')), /^\.\.\/\.\.\/\.\.\/\.\.\/kernel\/iommu_groups\/\d+$/);
      assert.equal(await readlink(join(vfDir, 'physfn')), '../0000:05:00.0');
      assert.equal(await readlink(join(sys, 'devices/pci0000:04/0000:04:01.0/0000:05:00.0/virtfn0')), '../0000:05:00.1');
      assert.equal(await readFile(join(vfDir, 'vendor'), 'utf8'), '0x8086\n');
      assert.equal(await readFile(join(vfDir, 'device'), 'utf8'), '0x1457\n');
      assert.equal(await readFile(join(vfDir, 'class'), 'utf8'), '0x010802\n');
      assert.equal(await readFile(join(vfDir, 'driver_override'), 'utf8'), 'vfio-pci\n');
      const vfConfig = await readFile(join(vfDir, 'config'));
      assert.equal(vfConfig.length, 4096);
      assert.equal(vfConfig.readUInt32LE(0), 0xffffffff, 'a VF reads all-ones ids in config space');
      assert.equal(vfConfig.readUInt16LE(4), 0x0004, 'bus master only: a VF has no memory space enable');
      assert.equal(vfConfig.readUIntLE(9, 3), 0x010802);
      const port = await readFile(join(sys, 'devices/pci0000:04/0000:04:01.0/config'));
      assert.equal(port.readUInt16LE(0), 0x8086);
      assert.equal(port[0x0e], 0x01, 'type 1 header');
      assert.deepEqual([port[0x18], port[0x19], port[0x1a]], [0x04, 0x05, 0x05]);
    }));

  it('sets the multi-function bit only where a slot has several functions', () =>
    withTree('mixed-switch.json', async (sys) => {
      const header = async (bdf: string) => (await readFile(join(sys, 'bus/pci/devices', bdf, 'config')))[0x0e];
      assert.equal(await header('0000:04:00.0'), 0x80);
      assert.equal(await header('0000:04:00.1'), 0x80);
      assert.equal(await header('0000:03:00.0'), 0x00);
    }));

  it('refuses a directory that is not empty', async () => {
    const tmp = await tempDir('lu-sim-');
    try {
      await writeFile(join(tmp.dir, 'stale'), '');
      await assert.rejects(writeSysfsTree(parseTopology({ roots: [{ bus: '00' }] }), tmp.dir), /not empty/);
    } finally {
      await tmp.remove();
    }
  });
});

describe('setBusMaster', () => {
  it('flips only bit 2 of the command register, in place', () =>
    withTree('gpu8.json', async (sys) => {
      const file = join(sys, 'bus/pci/devices/0000:18:00.0/config');
      const before = await readFile(file);
      await setBusMaster(sys, '0000:18:00.0', false);
      const cleared = await readFile(file);
      assert.equal(await readBusMaster(sys, '0000:18:00.0'), false);
      assert.equal(cleared.readUInt16LE(4), before.readUInt16LE(4) & ~0x4);
      assert.deepEqual([...cleared.subarray(0, 4), ...cleared.subarray(6)], [...before.subarray(0, 4), ...before.subarray(6)]);
      await setBusMaster(sys, '0000:18:00.0', false);
      assert.deepEqual(await readFile(file), cleared, 'idempotent');
      await setBusMaster(sys, '0000:18:00.0', true);
      assert.deepEqual(await readFile(file), before);
    }));
});

describe('shipped topologies read back through the Linux reader', () => {
  for (const file of ['gpu8.json', 'nvme-sriov.json', 'mixed-switch.json']) {
    it(`${file}: inventory equals the layout, without errors`, () =>
      withTree(file, async (sys, devices, proc) => {
        const inventory = await readPciInventory({ sysfsRoot: sys, procRoot: proc });
        assert.deepEqual(inventory.errors, []);
        assertInventoryMatches(inventory.devices, devices);
      }));
  }
});

function assertInventoryMatches(read: Awaited<ReturnType<typeof readPciInventory>>['devices'], laid: SimDevice[]): void {
  const expected = laid
    .map((d) => ({
      bdf: d.bdf,
      vendor: d.vendor,
      device: d.device,
      class: d.class,
      driver: d.driver,
      driverOverride: d.driverOverride,
      iommuGroup: String(d.iommuGroup),
      busMaster: d.busMaster,
      bridge: d.bridge,
      upstream: d.upstream,
      physfn: d.physfn,
      virtfns: d.virtfns,
      vfioDevice: d.vfioIndex === null ? null : `vfio${d.vfioIndex}`,
      inUse: false,
    }))
    .sort((a, b) => (a.bdf < b.bdf ? -1 : 1));
  assert.deepEqual(read, expected);
}

describe('properties on random topologies', () => {
  it('the reader returns exactly the laid-out devices; the plan holds exactly the requested endpoints and their ancestors, once each', async () => {
    await fc.assert(
      fc.asyncProperty(topologyArbitrary, async (input) => {
        const tmp = await tempDir('lu-prop-');
        try {
          const devices = await writeSysfsTree(parseTopology(input), join(tmp.dir, 'sys'));
          await buildProc(join(tmp.dir, 'proc'), {});
          const inventory = await readPciInventory({ sysfsRoot: join(tmp.dir, 'sys'), procRoot: join(tmp.dir, 'proc') });
          assert.deepEqual(inventory.errors, []);
          assertInventoryMatches(inventory.devices, devices);

          // Model from the layout (not from the reader): requested = vfio-pci endpoints with bus master set;
          // preservable when every bridge above has bus master set.
          const byBdf = new Map(devices.map((d) => [d.bdf, d]));
          const requested = devices.filter((d) => !d.bridge && d.driver === 'vfio-pci' && d.busMaster);
          const preservable = requested.filter((d) => d.upstream.every((b) => byBdf.get(b)!.busMaster));
          const expected = new Set(preservable.flatMap((d) => [d.bdf, ...d.upstream]));

          const plan = planPreservation(inventory);
          const planned = plan.preserve.map((p) => p.bdf);
          assert.equal(planned.length, new Set(planned).size, 'each device once');
          assert.deepEqual(new Set(planned), expected);
          for (const p of plan.preserve)
            assert.deepEqual(p.flags, byBdf.get(p.bdf)!.bridge ? ['busmaster-bridge'] : ['busmaster'], p.bdf);
          assert.deepEqual(
            new Set(plan.errors.map((e) => e.bdf)),
            new Set(requested.filter((d) => !preservable.includes(d)).map((d) => d.bdf)),
            'every requested endpoint that cannot be preserved is an error',
          );
          assert.deepEqual(planned, [...planned].sort(), 'sorted by address');
        } finally {
          await tmp.remove();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('with --match, every matching device is either preserved or an error, never dropped; bridges never get busmaster', async () => {
    await fc.assert(
      fc.asyncProperty(topologyArbitrary, fc.subarray(['10de:2330', '144d:a80a', '15b3:101d', '15b3:f00d', '8086:347a', '1000:c030']), async (input, picked) => {
        const tmp = await tempDir('lu-prop-');
        try {
          const devices = await writeSysfsTree(parseTopology(input), join(tmp.dir, 'sys'));
          await buildProc(join(tmp.dir, 'proc'), {});
          const inventory = await readPciInventory({ sysfsRoot: join(tmp.dir, 'sys'), procRoot: join(tmp.dir, 'proc') });
          const match = picked.map((m) => ({ vendor: m.slice(0, 4), device: m.slice(5) }));
          const plan = planPreservation(inventory, { match });
          const matched = devices.filter((d) => picked.includes(`${d.vendor}:${d.device}`));
          const flags = new Map(plan.preserve.map((p) => [p.bdf, p.flags]));
          const failed = new Set(plan.errors.map((e) => e.bdf));
          for (const d of matched) {
            const preserved = flags.get(d.bdf)?.includes('busmaster') ?? false;
            assert.ok(preserved !== failed.has(d.bdf), `${d.bdf} is preserved xor an error`);
          }
          for (const d of devices.filter((x) => x.bridge)) assert.ok(!flags.get(d.bdf)?.includes('busmaster'), d.bdf);
        } finally {
          await tmp.remove();
        }
      }),
      { numRuns: 30 },
    );
  });
});
