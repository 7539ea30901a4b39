import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sessionName } from '../../../src/host/linux/luo';
import { VFIO_NOT_PRESERVABLE } from '../../../src/host/luo-probe';
import { VfioBindError } from '../../../src/host/pci/vfio-bind';
import { parseFaults } from '../../../src/host/sim/faults';
import type { SimHost } from '../../../src/host/sim/host';
import { key, kmsg, seedTopology, simNode, type SimNode } from './sim-fixture';

const VF = '0000:05:00.1';
const device = async (host: SimHost, bdf: string) => (await host.inventory()).devices.find((d) => d.bdf === bdf)!;
const outgoing = async (node: SimNode) =>
  Object.keys((JSON.parse(await readFile(path.join(node.dir, 'state.json'), 'utf8')) as { kernel: { mainline: { outgoing: object } } }).kernel.mainline.outgoing);

async function kexecWith(node: SimNode, devices: string[]): Promise<SimHost> {
  const host = await node.open();
  await host.luo.prepare(key, devices);
  await host.kexec.load(node.image);
  await host.kexec.execute();
  return node.open();
}

describe('SimLuo.probe', () => {
  it('a kernel with VFIO preservation: vfio-pci endpoints and bridges are preservable, others say why; nothing stays', async () => {
    const node = await simNode(await seedTopology());
    const host = await node.open();
    const result = await host.luo.probe([VF, '0000:04:01.0', '0000:05:00.0', '0000:77:00.0', VF]);
    assert.equal(result.api, 'mainline');
    assert.deepEqual(result.devices.map((d) => [d.bdf, d.preservable]), [
      [VF, true],
      ['0000:04:01.0', true],
      ['0000:05:00.0', false],
      ['0000:77:00.0', false],
    ]);
    assert.match(result.devices[2]!.reason, /^not preservable: not bound to vfio-pci \(driver nvme\)/);
    assert.match(result.devices[3]!.reason, /no such PCI device/);
    assert.deepEqual(await outgoing(node), [], 'the throwaway session is gone');
    await host.luo.prepare(key, [VF]); // the probe left nothing that would collide with the real prepare
    assert.deepEqual(await outgoing(node), [sessionName(key)]);
  });

  it('a kernel without VFIO preservation (Linux 7.2.13): every VFIO endpoint is refused with ENOENT, bridges are not probed', async () => {
    const node = await simNode(await seedTopology(), { vfioPreservation: false });
    const host = await node.open();
    const result = await host.luo.probe([VF, '0000:05:00.2', '0000:04:01.0']);
    assert.deepEqual(result.devices, [
      { bdf: VF, preservable: false, reason: `not preservable: ${VFIO_NOT_PRESERVABLE}` },
      { bdf: '0000:05:00.2', preservable: false, reason: 'not preservable: the running kernel cannot preserve VFIO devices (PRESERVE_FD: ENOENT)' },
      { bdf: '0000:04:01.0', preservable: true, reason: 'a bridge: no fd to preserve, the kernel keeps it with its endpoints' },
    ]);
    assert.deepEqual(await outgoing(node), []);
  });

  it('a device preserved in a held session is refused (EBUSY): probe before prepare', async () => {
    const node = await simNode(await seedTopology());
    const host = await node.open();
    await host.luo.prepare(key, [VF]);
    const [probe] = (await host.luo.probe([VF])).devices;
    assert.equal(probe!.preservable, false);
    assert.match(probe!.reason, /EBUSY: 0000:05:00\.1 is already preserved in session luo-op:/);
    assert.deepEqual(await outgoing(node), [sessionName(key)]);
  });

  it('legacy reports preservable (its PCI core decides at prepare); no LUO reports none preservable', async () => {
    const legacy = await (await simNode(await seedTopology(), { api: 'legacy' })).open();
    assert.deepEqual(await legacy.luo.probe([VF]), {
      api: 'legacy',
      devices: [{ bdf: VF, preservable: true, reason: 'the legacy LUO API has no per-device probe: its PCI core decides at prepare' }],
    });
    const none = await (await simNode(await seedTopology(), { api: 'none' })).open();
    const result = await none.luo.probe([VF]);
    assert.equal(result.api, 'none');
    assert.match(result.devices[0]!.reason, /^not preservable: the running kernel has no Live Update Orchestrator/);
  });
});

describe('SimLuo.prepare without VFIO preservation', () => {
  it('refuses a VFIO endpoint with ENOENT in the probe\'s words and leaves no session; the flag survives reopen and kexec', async () => {
    const node = await simNode(await seedTopology(), { vfioPreservation: false });
    const host = await node.open();
    await assert.rejects(
      host.luo.prepare(key, [VF]),
      (err: Error & { errno?: string }) => err.errno === 'ENOENT' && err.message === `ENOENT: ${VF}: not preservable: ${VFIO_NOT_PRESERVABLE}`,
    );
    assert.deepEqual(await outgoing(node), []);
    // The agent reopens the node without the option: it keeps the capability it was created with, across kexec too.
    const reopened = await node.open();
    assert.equal((await reopened.luo.probe([VF])).devices[0]!.preservable, false);
    await reopened.kexec.load(node.image);
    await reopened.kexec.execute();
    const booted = await node.open();
    assert.equal((await booted.identity()).kernelRelease, '6.19.3-sim');
    assert.equal((await booted.luo.probe([VF])).devices[0]!.preservable, false);
    assert.deepEqual(await booted.luo.retrieve(), { sessions: [], devices: [] });
  });
});

describe('SimHost.bindVfio', () => {
  it('user-space binding: the preserved VF comes up unbound, its fd is retrievable only after bindVfio, which restores its cdev', async () => {
    const node = await simNode(await seedTopology(), { bindAfterKexec: 'user-space' });
    const before = await device(await node.open(), VF);
    const host = await kexecWith(node, [VF]);
    const unbound = await device(host, VF);
    assert.deepEqual([unbound.driver, unbound.driverOverride, unbound.vfioDevice, unbound.inUse, unbound.busMaster], [null, null, null, false, true]);
    assert.equal((await device(host, '0000:05:00.2')).driver, 'vfio-pci', 'a device that was not preserved is not affected');
    assert.deepEqual((await host.luo.retrieve()).devices, ['0000:04:01.0'], 'no VFIO file to hand back while unbound');

    await host.bindVfio(VF);
    const bound = await device(host, VF);
    assert.deepEqual([bound.driver, bound.driverOverride, bound.vfioDevice, bound.inUse], ['vfio-pci', 'vfio-pci', before.vfioDevice, true]);
    await host.bindVfio(VF); // already bound: a no-op
    assert.deepEqual((await host.luo.retrieve()).devices, ['0000:04:01.0', VF]);
    await host.luo.finish(key);
    assert.equal(await host.readBusMaster(VF), true, 'retrieved before finish: nothing discarded');
    assert.match(await kmsg(node.dir), /vfio-pci 0000:05:00\.1: bound \(VFIO device vfio0\)/);
  });

  it('the default keeps the kernel binding: preserved endpoints come back on vfio-pci', async () => {
    const node = await simNode(await seedTopology());
    const host = await kexecWith(node, [VF]);
    assert.equal((await device(host, VF)).driver, 'vfio-pci');
    assert.deepEqual((await host.luo.retrieve()).devices, [VF, '0000:04:01.0']);
  });

  it('binds an unbound device that never had a cdev to the lowest free one, and refuses a native driver without touching it', async () => {
    const node = await simNode(await seedTopology());
    const host = await node.open();
    await host.bindVfio('0000:05:00.3');
    const vf = await device(host, '0000:05:00.3');
    assert.deepEqual([vf.driver, vf.vfioDevice], ['vfio-pci', 'vfio2']);
    await assert.rejects(
      host.bindVfio('0000:05:00.0'),
      (err: VfioBindError) => err instanceof VfioBindError && err.driver === 'nvme' && /0000:05:00\.0: bound to nvme, not vfio-pci; refusing to unbind/.test(err.message),
    );
    const pf = await device(host, '0000:05:00.0');
    assert.deepEqual([pf.driver, pf.driverOverride], ['nvme', null]);
    await assert.rejects(host.bindVfio('0000:77:00.0'), /0000:77:00\.0: no such PCI device/);
  });
});

describe('native-driver-after-kexec fault', () => {
  it('the preserved VF comes back on a native driver: bindVfio refuses it (DriverChanged) and its fd is never handed back', async () => {
    const node = await simNode(await seedTopology(), {}, [{ kind: 'native-driver-after-kexec', device: VF }]);
    const host = await kexecWith(node, [VF]);
    const vf = await device(host, VF);
    assert.deepEqual([vf.driver, vf.vfioDevice, vf.busMaster], ['nvme', null, true]);
    await assert.rejects(host.bindVfio(VF), (err: VfioBindError) => err.driver === 'nvme');
    assert.deepEqual((await host.luo.retrieve()).devices, ['0000:04:01.0']);
    assert.match(await kmsg(node.dir), /nvme 0000:05:00\.1: bound after kexec \(a native driver claimed/);
  });

  it('takes an explicit driver, fires only for a preserved endpoint, and the schema rejects vfio-pci as the native driver', async () => {
    const node = await simNode(await seedTopology(), { bindAfterKexec: 'user-space' }, [
      { kind: 'native-driver-after-kexec', device: '0000:05:00.2', driver: 'nouveau' },
      { kind: 'native-driver-after-kexec', device: VF, driver: 'nouveau' },
    ]);
    const host = await kexecWith(node, [VF]);
    assert.equal((await device(host, VF)).driver, 'nouveau');
    assert.equal((await device(host, '0000:05:00.2')).driver, 'vfio-pci', 'not preserved: the fault stays armed');
    assert.throws(() => parseFaults({ nodes: { n: [{ kind: 'native-driver-after-kexec', device: VF, driver: 'vfio-pci' }] } }), /driver: a native driver/);
    assert.deepEqual(parseFaults({ nodes: { n: [{ kind: 'native-driver-after-kexec', device: VF }] } }).nodes['n'], [{ kind: 'native-driver-after-kexec', device: VF }]);
  });
});
