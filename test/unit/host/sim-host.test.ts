import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { sessionName } from '../../../src/host/linux/luo';
import { busMasterAfterKexec, preservedClosure, SimHost } from '../../../src/host/sim/host';
import { parseTopology } from '../../../src/host/sim/topology';
import type { SimLuoApi } from '../../../src/host/sim/kernel';
import { key, kmsg, seedTopology, simNode } from './sim-fixture';
import { topologyArbitrary } from './topology-arbitrary';

const busMasters = async (host: SimHost) => new Map((await host.inventory()).devices.map((d) => [d.bdf, d.busMaster]));

describe('SimHost', () => {
  it('mainline live update of the seed VF: new boot id and release, the VF and its root port keep bus master', async () => {
    const node = await simNode(await seedTopology());
    const host = await node.open();
    const before = await host.identity();
    const inventory = await host.inventory();
    assert.deepEqual(inventory.errors, []);
    const vf = inventory.devices.find((d) => d.bdf === '0000:05:00.1')!;
    assert.deepEqual([vf.driver, vf.physfn, vf.upstream, vf.inUse, vf.busMaster], ['vfio-pci', '0000:05:00.0', ['0000:04:01.0'], true, true]);
    assert.equal(await host.luo.api(), 'mainline');

    await host.luo.prepare(key, ['0000:05:00.1']);
    await host.kexec.load(node.image);
    await host.kexec.execute();
    assert.equal(node.reboots, 1);
    await assert.rejects(host.identity(), /reopen the SimHost/, 'the old agent process is gone');

    const after = await node.open();
    const identity = await after.identity();
    assert.notEqual(identity.bootId, before.bootId);
    assert.equal(identity.kernelRelease, '6.19.3-sim');
    const bm = await busMasters(after);
    assert.equal(bm.get('0000:05:00.1'), true);
    assert.equal(bm.get('0000:04:01.0'), true, 'the bridge above was preserved automatically');
    assert.equal(bm.get('0000:05:00.2'), false, 'a vfio-pci VF nobody preserved lost bus master');
    assert.equal(bm.get('0000:00:01.0'), false);
    assert.deepEqual(await after.luo.retrieve(), { sessions: [sessionName(key)], devices: ['0000:05:00.1', '0000:04:01.0'] });
    await after.luo.finish(key);
    assert.equal(await after.readBusMaster('0000:05:00.1'), true, 'everything was retrieved: finish discards nothing');
    assert.deepEqual(await after.luo.retrieve(), { sessions: [], devices: [] });
  });

  it('legacy live update follows the seed: prepared, updated after kexec, normal after finish, with its log lines', async () => {
    const node = await simNode(await seedTopology(), { api: 'legacy' });
    const host = await node.open();
    assert.equal(await host.luo.state(), 'normal');
    await host.luo.prepare(key, ['0000:05:00.1']);
    await host.luo.prepare(key, ['0000:05:00.1']); // a retry of the same attempt is a no-op
    assert.equal(await host.luo.state(), 'prepared');
    await host.kexec.load(node.image);
    await host.kexec.execute();
    const after = await node.open();
    assert.equal(await after.luo.state(), 'updated');
    assert.deepEqual((await after.luo.retrieve()).sessions, ['legacy']);
    await after.luo.finish(key);
    assert.equal(await after.luo.state(), 'normal');
    const log = await kmsg(node.dir);
    assert.match(log, /0000:05:00\.1: PCI liveupdate: collect liveupdate device: flags 1/);
    assert.match(log, /0000:04:01\.0: PCI liveupdate: collect liveupdate device: flags 2/);
    assert.match(log, /Switched from \[normal\] to \[prepared\] state/);
    assert.match(log, /Switched from \[updated\] to \[normal\] state/);
  });

  it('legacy cancel returns to normal and the next kexec carries no LUO data', async () => {
    const node = await simNode(await seedTopology(), { api: 'legacy' });
    const host = await node.open();
    await host.luo.prepare(key, ['0000:05:00.1']);
    await host.luo.cancel(key);
    await host.luo.cancel(key);
    assert.equal(await host.luo.state(), 'normal');
    await host.kexec.load(node.image);
    await host.kexec.execute();
    const after = await node.open();
    assert.deepEqual(await after.luo.retrieve(), { sessions: [], devices: [] });
    assert.equal(await after.readBusMaster('0000:05:00.1'), false);
  });

  it('explicit bridge mode: a preserved endpoint under an unpreserved bridge loses bus master, with the bridge it keeps it', async () => {
    for (const [devices, expected] of [[['0000:05:00.1'], false], [['0000:05:00.1', '0000:04:01.0'], true]] as const) {
      const node = await simNode(await seedTopology(), { bridges: 'explicit' });
      const host = await node.open();
      await host.luo.prepare(key, [...devices]);
      await host.kexec.load(node.image);
      await host.kexec.execute();
      const after = await node.open();
      assert.equal(await after.readBusMaster('0000:05:00.1'), expected);
      assert.equal(await after.readBusMaster('0000:04:01.0'), expected);
    }
  });

  it('mainline prepare refuses a device that is not bound to vfio-pci, and an unknown address', async () => {
    const node = await simNode(await seedTopology());
    const host = await node.open();
    await assert.rejects(host.luo.prepare(key, ['0000:05:00.0']), /EINVAL: 0000:05:00\.0: not preservable: not bound to vfio-pci/);
    await assert.rejects(host.luo.prepare(key, ['0000:77:00.0']), /ENODEV/);
  });

  it('mainline finish discards a device whose fd was never retrieved: its bus master is cleared', async () => {
    const node = await simNode(await seedTopology());
    const host = await node.open();
    await host.luo.prepare(key, ['0000:05:00.1', '0000:05:00.2']);
    await host.kexec.load(node.image);
    await host.kexec.execute();
    const after = await node.open();
    assert.equal(await after.readBusMaster('0000:05:00.2'), true);
    await after.luo.finish(key); // without retrieve(): nothing was reclaimed
    assert.equal(await after.readBusMaster('0000:05:00.1'), false);
    assert.equal(await after.readBusMaster('0000:05:00.2'), false);
  });

  it('an agent restart before kexec closes its sessions: reported as an implicit cancel, nothing is handed over', async () => {
    const node = await simNode(await seedTopology());
    const host = await node.open();
    await host.luo.prepare(key, ['0000:05:00.1']);
    await host.kexec.load(node.image);
    const restarted = await node.open();
    assert.deepEqual(restarted.implicitCancels(), [sessionName(key)]);
    await restarted.kexec.execute();
    const after = await node.open();
    assert.deepEqual(await after.luo.retrieve(), { sessions: [], devices: [] });
    assert.equal(await after.readBusMaster('0000:05:00.1'), false);
  });

  it('kexec without a loaded kernel fails like kexec -e, and load checks the sha256 and the image directory', async () => {
    const node = await simNode(await seedTopology());
    const host = await node.open();
    await assert.rejects(host.kexec.execute(), /Nothing has been loaded/);
    await assert.rejects(host.kexec.load({ ...node.image, sha256: '0'.repeat(64) }), /sha256 is/);
    await assert.rejects(host.kexec.load({ ...node.image, image: '/etc/passwd' }), /outside the image directory/);
    await host.kexec.load(node.image);
    await host.kexec.unload();
    await assert.rejects(host.kexec.execute(), /Nothing has been loaded/);
  });

  it('property: simulated kexec clears exactly the non-preserved bus masters and preserved endpoints under an unpreserved bridge', async () => {
    await fc.assert(
      fc.asyncProperty(
        topologyArbitrary,
        fc.constantFrom<SimLuoApi>('legacy', 'mainline'),
        fc.constantFrom('auto' as const, 'explicit' as const),
        fc.infiniteStream(fc.boolean()),
        async (input, api, bridges, picks) => {
          const node = await simNode(parseTopology(input), { api, bridges });
          const host = await node.open();
          const devices = (await host.inventory()).devices;
          const pick = () => picks.next().value as boolean;
          // mainline preserves VFIO cdevs: endpoints must be bound to vfio-pci; bridges may be asked for explicitly.
          const requested = devices.filter((d) => (d.bridge ? bridges === 'explicit' : api === 'legacy' || d.driver === 'vfio-pci') && pick()).map((d) => d.bdf);
          await host.luo.prepare(key, requested);
          await host.kexec.load(node.image);
          await host.kexec.execute();
          const preserved = new Set(preservedClosure(devices, requested, bridges));
          const after = await busMasters(await node.open());
          for (const d of devices) {
            const expected = d.busMaster && preserved.has(d.bdf) && (d.bridge || d.upstream.every((u) => preserved.has(u)));
            assert.equal(after.get(d.bdf), expected, `${d.bdf} (${d.bridge ? 'bridge' : 'endpoint'}, requested ${requested.includes(d.bdf)})`);
          }
        },
      ),
      { numRuns: 20 },
    );
  });

  it('busMasterAfterKexec never sets a bit that was clear and keeps every fully preserved chain', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ bm: fc.boolean(), keep: fc.boolean(), bridge: fc.boolean() }), { minLength: 1, maxLength: 8 }), (chain) => {
        // A line of devices, each below the previous one.
        const devices = chain.map((c, i) => ({
          bdf: `0000:0${i}:00.0`,
          bridge: c.bridge,
          busMaster: c.bm,
          upstream: chain.slice(0, i).map((_, j) => `0000:0${j}:00.0`).reverse(),
        }));
        const result = busMasterAfterKexec(devices, devices.filter((_, i) => chain[i]!.keep).map((d) => d.bdf));
        devices.forEach((d, i) => {
          if (!d.busMaster || !chain[i]!.keep) assert.equal(result.get(d.bdf), false);
          if (d.busMaster && chain.slice(0, i + 1).every((c) => c.keep)) assert.equal(result.get(d.bdf), true);
        });
      }),
    );
  });
});
