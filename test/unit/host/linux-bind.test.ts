import assert from 'node:assert/strict';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LinuxHost } from '../../../src/host/linux/host';
import { bindVfioPci, VfioBindError } from '../../../src/host/pci/vfio-bind';
import { buildKernelTree, buildProc, tempDir, type HandDevice } from './kernel-tree';

const endpoint = (fn: number, driver?: string): HandDevice => ({
  path: `pci0000:04/0000:04:01.0/0000:05:00.${fn}`,
  vendor: '0x8086\n',
  device: '0x1457\n',
  class: '0x010802\n',
  ...(driver ? { driver } : {}),
});

/** A kernel-layout tree: 05:00.0 on nvme, 05:00.1 on vfio-pci, 05:00.2 unbound. */
async function tree(): Promise<{ sys: string; host: LinuxHost; remove: () => Promise<void> }> {
  const tmp = await tempDir('bind-');
  const sys = join(tmp.dir, 'sys');
  await buildKernelTree(sys, [endpoint(0, 'nvme'), endpoint(1, 'vfio-pci'), endpoint(2)]);
  await buildProc(join(tmp.dir, 'proc'), {});
  const host = new LinuxHost({ sysfsRoot: sys, procRoot: join(tmp.dir, 'proc'), devRoot: join(tmp.dir, 'dev'), imageDir: tmp.dir, stateDir: join(tmp.dir, 'state') });
  return { sys, host, remove: tmp.remove };
}

const read = (file: string) => readFile(file, 'utf8').catch(() => undefined);
const deviceFile = (sys: string, bdf: string, name: string) => join(sys, 'bus/pci/devices', bdf, name);

describe('bindVfio on Linux', () => {
  const removals: Array<() => Promise<void>> = [];
  after(() => Promise.all(removals.map((r) => r())));

  it('an unbound device: writes vfio-pci to driver_override and its BDF to drivers_probe, then checks the driver link', async () => {
    const t = await tree();
    removals.push(t.remove);
    // No kernel reacts to writes into this tree, so the device stays unbound: that failure names the BDF and driver.
    await assert.rejects(
      t.host.bindVfio('0000:05:00.2'),
      (err: VfioBindError) =>
        err instanceof VfioBindError && err.bdf === '0000:05:00.2' && err.driver === null && /0000:05:00\.2: not bound to vfio-pci after drivers_probe \(driver: none\)/.test(err.message),
    );
    assert.equal(await read(deviceFile(t.sys, '0000:05:00.2', 'driver_override')), 'vfio-pci');
    assert.equal(await read(join(t.sys, 'bus/pci/drivers_probe')), '0000:05:00.2');
  });

  it('a device already on vfio-pci is left alone; one on a native driver is refused and never touched', async () => {
    const t = await tree();
    removals.push(t.remove);
    await t.host.bindVfio('0000:05:00.1');
    await assert.rejects(
      t.host.bindVfio('0000:05:00.0'),
      (err: VfioBindError) => err.driver === 'nvme' && /0000:05:00\.0: bound to nvme, not vfio-pci; refusing to unbind a native driver/.test(err.message),
    );
    assert.equal(await read(deviceFile(t.sys, '0000:05:00.1', 'driver_override')), undefined);
    assert.equal(await read(deviceFile(t.sys, '0000:05:00.0', 'driver_override')), undefined);
    assert.equal(await read(join(t.sys, 'bus/pci/drivers_probe')), undefined);
    await assert.rejects(t.host.bindVfio('0000:09:00.0'), /0000:09:00\.0: no such PCI device/);
    await assert.rejects(t.host.bindVfio('5:0.1'), /not a PCI address/);
  });

  it('succeeds when the probe binds vfio-pci, fails naming the driver that won otherwise, and reports a refused drivers_probe write', async () => {
    const t = await tree();
    removals.push(t.remove);
    // The kernel's part of drivers_probe: the driver named by driver_override claims the device.
    const kernelBinds = (driver: string) => async (bdf: string) => {
      await mkdir(join(t.sys, 'bus/pci/drivers', driver), { recursive: true });
      await symlink(`../../../../bus/pci/drivers/${driver}`, deviceFile(t.sys, bdf, 'driver'));
    };
    await bindVfioPci(t.sys, '0000:05:00.2', kernelBinds('vfio-pci'));
    const inventory = await t.host.inventory();
    const bound = inventory.devices.find((d) => d.bdf === '0000:05:00.2')!;
    assert.deepEqual([bound.driver, bound.driverOverride], ['vfio-pci', 'vfio-pci']);

    const other = await tree();
    removals.push(other.remove);
    await assert.rejects(
      bindVfioPci(other.sys, '0000:05:00.2', async (bdf) => {
        await mkdir(join(other.sys, 'bus/pci/drivers/pci-stub'), { recursive: true });
        await symlink('../../../../bus/pci/drivers/pci-stub', deviceFile(other.sys, bdf, 'driver'));
      }),
      (err: VfioBindError) => err.driver === 'pci-stub' && /\(driver: pci-stub\)/.test(err.message),
    );

    const refused = await tree();
    removals.push(refused.remove);
    await mkdir(join(refused.sys, 'bus/pci/drivers_probe')); // a write to it fails (EISDIR), as the kernel's -EINVAL would
    await assert.rejects(refused.host.bindVfio('0000:05:00.2'), /\(driver: none; drivers_probe: EISDIR/);
  });
});
