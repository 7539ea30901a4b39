import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { LinuxHost } from '../../../src/host/linux/host';
import { setBusMaster, writeSysfsTree } from '../../../src/host/sim/sysfs-tree';
import { seedTopology } from './sim-fixture';

describe('LinuxHost', () => {
  it('reads identity from <proc>/sys/kernel, inventory and bus master from <sysfs>, and detects no LUO', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'linuxhost-'));
    const sysfs = path.join(dir, 'sys');
    const proc = path.join(dir, 'proc');
    await writeSysfsTree(await seedTopology(), sysfs);
    await mkdir(path.join(proc, 'sys/kernel/random'), { recursive: true });
    await writeFile(path.join(proc, 'sys/kernel/random/boot_id'), 'c2b6a0a4-8d3e-4f4e-9a3b-2e1f0d9c8b7a\n');
    await writeFile(path.join(proc, 'sys/kernel/osrelease'), '6.19.0-1-amd64\n');
    const host = new LinuxHost({ sysfsRoot: sysfs, procRoot: proc, devRoot: path.join(dir, 'dev'), imageDir: dir, stateDir: path.join(dir, 'state') });
    assert.deepEqual(await host.identity(), { bootId: 'c2b6a0a4-8d3e-4f4e-9a3b-2e1f0d9c8b7a', kernelRelease: '6.19.0-1-amd64' });
    const inventory = await host.inventory();
    assert.ok(inventory.devices.some((d) => d.bdf === '0000:05:00.1' && d.driver === 'vfio-pci'));
    assert.equal(await host.readBusMaster('0000:05:00.1'), true);
    await setBusMaster(sysfs, '0000:05:00.1', false);
    assert.equal(await host.readBusMaster('0000:05:00.1'), false);
    assert.equal(await host.luo.api(), 'none');
    await host.close();
  });
});
