// The pure preservation planner on hand-made inventories.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planPreservation } from '../../../src/pci/preservation';
import type { Inventory, PciDevice } from '../../../src/host/types';

function bridge(bdf: string, upstream: string[], busMaster = true): PciDevice {
  return { bdf, vendor: '8086', device: '347a', class: '060400', driver: 'pcieport', driverOverride: null, iommuGroup: null, busMaster, bridge: true, upstream, physfn: null, inUse: false };
}
function endpoint(bdf: string, upstream: string[], extra: Partial<PciDevice> = {}): PciDevice {
  return { bdf, vendor: '10de', device: '2330', class: '030200', driver: 'vfio-pci', driverOverride: null, iommuGroup: null, busMaster: true, bridge: false, upstream, physfn: null, inUse: true, ...extra };
}

// Root port 00:01.0 → switch upstream 01:00.0 → downstream ports 02:00.0 / 02:01.0 → GPUs 03:00.0 / 04:00.0.
const switched: Inventory = {
  devices: [
    bridge('0000:00:01.0', []),
    bridge('0000:01:00.0', ['0000:00:01.0']),
    bridge('0000:02:00.0', ['0000:01:00.0', '0000:00:01.0']),
    bridge('0000:02:01.0', ['0000:01:00.0', '0000:00:01.0']),
    endpoint('0000:04:00.0', ['0000:02:01.0', '0000:01:00.0', '0000:00:01.0']),
    endpoint('0000:03:00.0', ['0000:02:00.0', '0000:01:00.0', '0000:00:01.0']),
    endpoint('0000:05:00.0', [], { vendor: '144d', device: 'a80a', class: '010802', driver: 'nvme' }),
  ],
  errors: [],
};

describe('planPreservation', () => {
  it('with bdfs, preserves exactly the chosen endpoints and names an address the host lacks', () => {
    const plan = planPreservation(switched, { bdfs: ['0000:04:00.0', '0000:09:00.0'] });
    assert.deepEqual(plan.preserve.map((p) => p.bdf), ['0000:00:01.0', '0000:01:00.0', '0000:02:01.0', '0000:04:00.0']);
    assert.deepEqual(plan.errors, [{ bdf: '0000:09:00.0', reason: 'not-found', message: 'no such PCI device on this host' }]);
    const native = planPreservation(switched, { bdfs: ['0000:05:00.0'] });
    assert.equal(native.errors[0]?.reason, 'not-vfio');
  });

  it('preserves vfio-pci endpoints with their whole chain; a shared bridge appears once; sorted by address', () => {
    const plan = planPreservation(switched);
    assert.deepEqual(plan.preserve, [
      { bdf: '0000:00:01.0', flags: ['busmaster-bridge'] },
      { bdf: '0000:01:00.0', flags: ['busmaster-bridge'] },
      { bdf: '0000:02:00.0', flags: ['busmaster-bridge'] },
      { bdf: '0000:02:01.0', flags: ['busmaster-bridge'] },
      { bdf: '0000:03:00.0', flags: ['busmaster'] },
      { bdf: '0000:04:00.0', flags: ['busmaster'] },
    ]);
    assert.deepEqual(plan.errors, []);
    assert.deepEqual(plan.notes, []);
  });

  it('is deterministic whatever the inventory order', () => {
    const reversed = { devices: [...switched.devices].reverse(), errors: [] };
    assert.deepEqual(planPreservation(reversed), planPreservation(switched));
  });

  it('default selection skips devices not bound to vfio-pci or with bus master clear', () => {
    const inventory: Inventory = {
      devices: [bridge('0000:00:01.0', []), endpoint('0000:01:00.0', ['0000:00:01.0'], { busMaster: false }), endpoint('0000:00:02.0', [], { driver: 'nvidia' })],
      errors: [],
    };
    assert.deepEqual(planPreservation(inventory), { preserve: [], errors: [], notes: [] });
  });

  it('--match turns every unpreservable match into an error naming the address and reason', () => {
    const inventory: Inventory = {
      devices: [
        bridge('0000:00:01.0', []),
        bridge('0000:00:02.0', [], false),
        endpoint('0000:01:00.0', ['0000:00:01.0'], { busMaster: false }),
        endpoint('0000:02:00.0', ['0000:00:02.0']),
        endpoint('0000:03:00.0', ['0000:00:03.0']),
        endpoint('0000:00:04.0', [], { driver: null, busMaster: false }),
        endpoint('0000:00:05.0', ['0000:00:04.0']),
      ],
      errors: [{ bdf: '0000:00:03.0', reason: 'short-config', message: 'config holds 8 bytes' }],
    };
    const plan = planPreservation(inventory, { match: [{ vendor: '10de', device: '2330' }] });
    assert.deepEqual(plan.preserve, []);
    assert.deepEqual(
      plan.errors.map((e) => [e.bdf, e.reason]),
      [
        ['0000:00:04.0', 'not-vfio'],
        ['0000:00:04.0', 'busmaster-clear'],
        ['0000:00:05.0', 'unresolved-chain'],
        ['0000:01:00.0', 'busmaster-clear'],
        ['0000:02:00.0', 'bridge-busmaster-clear'],
        ['0000:03:00.0', 'unresolved-chain'],
      ],
    );
    for (const e of plan.errors) assert.ok(e.message.length > 0);
    assert.match(plan.errors.find((e) => e.bdf === '0000:03:00.0')!.message, /could not be read/);
    assert.match(plan.errors.find((e) => e.bdf === '0000:00:05.0')!.message, /not a PCI bridge/);
  });

  it('--match selects non-default devices and never gives a bridge busmaster', () => {
    const plan = planPreservation(switched, { match: [{ vendor: '8086', device: '347a' }, { vendor: 'ffff', device: '0001' }] });
    assert.deepEqual(plan.preserve, []);
    assert.deepEqual(new Set(plan.errors.map((e) => e.reason)), new Set(['bridge-selected']));
    assert.equal(plan.errors.length, 4);
    assert.deepEqual(plan.notes, ['no device matches ffff:0001']);
  });

  it('an endpoint directly on a root bus needs no bridge', () => {
    const plan = planPreservation({ devices: [endpoint('0000:00:04.0', [])], errors: [] });
    assert.deepEqual(plan.preserve, [{ bdf: '0000:00:04.0', flags: ['busmaster'] }]);
  });
});
