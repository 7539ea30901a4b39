import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { sessionName } from '../../../src/host/linux/luo';
import { armedFaults, FaultFileError, loadFaultFile, parseFaults } from '../../../src/host/sim/faults';
import { SimAgentCrash, SimNodeDownError } from '../../../src/host/sim/host';
import type { SimLuoApi } from '../../../src/host/sim/kernel';
import { key, kmsg, seedTopology, simNode } from './sim-fixture';

/** A node whose fault file holds `faults` for node-a. */
async function faulty(faults: unknown[], api: SimLuoApi = 'mainline') {
  return simNode(await seedTopology(), { api }, faults);
}

async function liveUpdate(node: Awaited<ReturnType<typeof faulty>>) {
  const host = await node.open();
  await host.luo.prepare(key, ['0000:05:00.1']);
  await host.kexec.load(node.image);
  await host.kexec.execute();
}

describe('fault injection', () => {
  it('prepare-error on a device fails prepare with its errno and leaves nothing prepared (both models)', async () => {
    for (const api of ['mainline', 'legacy'] as const) {
      const node = await faulty([{ kind: 'prepare-error', device: '0000:05:00.1', errno: 'EBUSY', times: 1 }], api);
      const host = await node.open();
      await assert.rejects(host.luo.prepare(key, ['0000:05:00.1']), /EBUSY: 0000:05:00\.1/);
      assert.equal(await host.luo.state(), api === 'legacy' ? 'normal' : undefined);
      await host.luo.prepare(key, ['0000:05:00.2']); // another device is unaffected
      await host.luo.cancel(key);
      await host.luo.prepare(key, ['0000:05:00.1']); // times: 1 — the second try works
    }
  });

  it('kexec-load-error makes load fail with the configured message', async () => {
    const node = await faulty([{ kind: 'kexec-load-error', message: 'kexec_file_load failed: Key was rejected by service' }]);
    const host = await node.open();
    await assert.rejects(host.kexec.load(node.image), /Key was rejected/);
    await assert.rejects(host.kexec.execute(), /Nothing has been loaded/);
  });

  it('never-returns: the kexec happens and the node never comes back', async () => {
    const node = await faulty([{ kind: 'never-returns' }]);
    await liveUpdate(node);
    assert.equal(node.reboots, 1);
    await assert.rejects(node.open(), (err: SimNodeDownError) => err instanceof SimNodeDownError && err.reason === 'never-returns');
  });

  it('panic-on-boot: the new kernel panics, the node stays down and the log says so', async () => {
    const node = await faulty([{ kind: 'panic-on-boot' }]);
    await liveUpdate(node);
    await assert.rejects(node.open(), /panic-on-boot/);
    assert.match(await kmsg(node.dir), /Kernel panic - not syncing/);
  });

  it('cold-reboot: new boot id, old release, no LUO data, vfio devices without bus master, VMs gone', async () => {
    const node = await faulty([{ kind: 'cold-reboot' }]);
    const before = await (await node.open()).identity();
    await liveUpdate(node);
    const host = await node.open();
    const identity = await host.identity();
    assert.notEqual(identity.bootId, before.bootId);
    assert.equal(identity.kernelRelease, before.kernelRelease);
    assert.deepEqual(await host.luo.retrieve(), { sessions: [], devices: [] });
    const devices = new Map((await host.inventory()).devices.map((d) => [d.bdf, d]));
    assert.equal(devices.get('0000:05:00.1')!.busMaster, false);
    assert.equal(devices.get('0000:05:00.1')!.inUse, false);
    assert.equal(devices.get('0000:04:01.0')!.busMaster, true, 'pcieport re-enabled its bridge');
    assert.equal(devices.get('0000:05:00.0')!.busMaster, true, 'nvme re-enabled its PF');
  });

  it('bus-master-lost: the kexec succeeds but the listed device comes back without bus master', async () => {
    const node = await faulty([{ kind: 'bus-master-lost', devices: ['0000:05:00.1'] }]);
    await liveUpdate(node);
    const host = await node.open();
    assert.equal((await host.identity()).kernelRelease, '6.19.3-sim');
    assert.deepEqual((await host.luo.retrieve()).sessions, [sessionName(key)]);
    assert.equal(await host.readBusMaster('0000:05:00.1'), false);
    assert.equal(await host.readBusMaster('0000:04:01.0'), true);
  });

  it('freeze-error: reboot(KEXEC) fails, no reboot happens, legacy LUO is cancelled by the kernel (both models)', async () => {
    for (const api of ['mainline', 'legacy'] as const) {
      const node = await faulty([{ kind: 'freeze-error', times: 1 }], api);
      const host = await node.open();
      const before = await host.identity();
      await host.luo.prepare(key, ['0000:05:00.1']);
      await host.kexec.load(node.image);
      await assert.rejects(host.kexec.execute(), /EBUSY: reboot\(LINUX_REBOOT_CMD_KEXEC\) failed: freeze returned EBUSY/);
      assert.equal(node.reboots, 0);
      assert.deepEqual(await host.identity(), before, 'still the old kernel, same boot');
      assert.equal(await host.luo.state(), api === 'legacy' ? 'normal' : undefined);
      assert.match(await kmsg(node.dir), /kexec aborted, freeze failed/);
    }
  });

  it('finish-error: finish fails and the session stays, the next finish succeeds (times: 1)', async () => {
    const node = await faulty([{ kind: 'finish-error', errno: 'EIO', times: 1 }]);
    await liveUpdate(node);
    const host = await node.open();
    await host.luo.retrieve();
    await assert.rejects(host.luo.finish(key), /EIO: finish failed/);
    await host.luo.finish(key);
    assert.equal(await host.readBusMaster('0000:05:00.1'), true);
  });

  it('agent-crash at a phase kills the agent there; a crash after prepare cancels the mainline session', async () => {
    const node = await faulty([{ kind: 'agent-crash', phase: 'prepare', when: 'after', times: 1 }]);
    const host = await node.open();
    await assert.rejects(host.luo.prepare(key, ['0000:05:00.1']), SimAgentCrash);
    assert.deepEqual(node.crashes, ['prepare']);
    await assert.rejects(host.luo.state(), /crashed at prepare/);
    const restarted = await node.open();
    assert.deepEqual(restarted.implicitCancels(), [sessionName(key)]);

    const before = await faulty([{ kind: 'agent-crash', phase: 'execute' }]);
    const h = await before.open();
    await h.luo.prepare(key, ['0000:05:00.1']);
    await h.kexec.load(before.image);
    await assert.rejects(h.kexec.execute(), SimAgentCrash);
    assert.equal(before.reboots, 0, 'crashed before the kexec: no reboot');
  });

  it('"*" faults apply to every node, after the node\'s own; times counts firings per fault', () => {
    const file = parseFaults({ nodes: { '*': [{ kind: 'never-returns' }], 'node-a': [{ kind: 'cold-reboot', times: 2 }] } });
    assert.deepEqual(armedFaults(file, 'node-a', {}).map((f) => f.fault.kind), ['cold-reboot', 'never-returns']);
    assert.deepEqual(armedFaults(file, 'node-b', {}).map((f) => f.fault.kind), ['never-returns']);
    assert.deepEqual(armedFaults(file, 'node-a', { 'node-a#0:cold-reboot': 2 }).map((f) => f.fault.kind), ['never-returns']);
  });

  it('rejects malformed fault files with the path of each bad field', async () => {
    assert.throws(
      () => parseFaults({ nodes: { 'node-a': [{ kind: 'prepare-error', device: '5:0.1' }, { kind: 'agent-crash', phase: 'reboot' }, { kind: 'meteor' }] } }),
      (err: FaultFileError) =>
        err.issues.some((i) => i.startsWith('faults.nodes["node-a"][0].device:')) &&
        err.issues.some((i) => i.startsWith('faults.nodes["node-a"][1].phase:')) &&
        err.issues.some((i) => i.startsWith('faults.nodes["node-a"][2].kind:')),
    );
    assert.throws(() => parseFaults({ nodes: { 'node-a': [{ kind: 'cold-reboot', extra: 1 }] } }), /faults\.nodes\["node-a"\]\[0\]/);
    const node = await simNode(await seedTopology());
    const bad = path.join(node.dir, 'bad.json');
    await writeFile(bad, '{ not json');
    await assert.rejects(loadFaultFile(bad), /not valid JSON/);
    assert.deepEqual(await loadFaultFile(path.join(node.dir, 'absent.json')), { nodes: {} });
  });
});
