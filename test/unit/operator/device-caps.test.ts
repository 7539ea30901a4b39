// Issue 18 item 3: no device cap drops a device silently. A host with 4 096 PCI functions, 600 of them on vfio-pci:
// the agent's report lists every one a plan may ask for (with its bridges), the operator preserves all 600, the
// object stays well under etcd's limit, and a node past a bound is skipped before it is cordoned.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { desiredStatus, STATUS_BUDGET_BYTES } from '../../../src/agent/status';
import { DEVICE_LIMITS, LiveUpdateNodeSpec, LiveUpdateNodeStatus } from '../../../src/api/node';
import type { Inventory } from '../../../src/host/types';
import { eligibility } from '../../../src/operator/planner/eligibility';
import { LARGE_HOST, largeInventory } from '../../support/large-host';
import { makeNode, makePlan, PLAN_UID } from '../../support/fleet-arbitrary';

const report = (inventory: Inventory, requested: string[] = []) =>
  desiredStatus({
    previous: undefined,
    journal: undefined,
    identity: { bootId: 'boot-0', kernelRelease: '6.19.0-sim' },
    api: 'mainline',
    legacyState: undefined,
    inventory,
    requested,
    version: 'test',
    heartbeat: true,
    now: new Date('2026-12-01T00:00:00Z'),
  });

const bdfOf = (i: number) => `0000:${(i >> 8).toString(16).padStart(2, '0')}:${((i >> 3) & 0x1f).toString(16).padStart(2, '0')}.${i & 7}`;
const nodeWith = (status: LiveUpdateNodeStatus) => makeNode('big', { record: { status } });
const verdict = (status: LiveUpdateNodeStatus, devices: object = {}) => eligibility(nodeWith(status), makePlan({ devices }).spec, PLAN_UID);

describe('device caps (4 096 functions, 600 on vfio-pci)', () => {
  const inventory = largeInventory();
  const vfio = inventory.devices.filter((d) => d.driver === 'vfio-pci').map((d) => d.bdf);

  it('the generated host has what the issue asks for', () => {
    assert.equal(inventory.devices.length, LARGE_HOST.functions);
    assert.equal(vfio.length, LARGE_HOST.vfio);
  });

  it('the agent publishes every vfio-pci endpoint and every bridge above one; the rest counted by kind; the schema accepts it', () => {
    const status = LiveUpdateNodeStatus.parse(report(inventory));
    const listed = new Set((status.devices ?? []).map((d) => d.bdf));
    const missing = vfio.filter((bdf) => !listed.has(bdf));
    assert.deepEqual(missing, [], `${missing.length} vfio-pci endpoints are missing from status.devices`);
    for (const d of inventory.devices.filter((x) => x.driver === 'vfio-pci')) for (const up of d.upstream) assert.ok(listed.has(up), `bridge ${up} above ${d.bdf} is listed`);
    const counted = (status.otherDevices ?? []).reduce((n, k) => n + k.count, 0);
    assert.equal(listed.size + counted, LARGE_HOST.functions, 'every function is listed or counted');
    assert.equal(status.inventoryIncomplete, undefined);
  });

  it('the whole status, with all 600 in the preservation and the verification, stays well under etcd\'s 1.5 MiB', () => {
    const status = report(inventory, vfio);
    assert.equal(status.preservation?.filter((p) => p.flags.includes('busmaster')).length, LARGE_HOST.vfio);
    const verification = status.preservation.map((p) => ({ bdf: p.bdf, busMasterBefore: true, busMasterAfter: true, driverAfter: 'vfio-pci', dmaContinuous: true }));
    const bytes = Buffer.byteLength(JSON.stringify({ ...status, verification }));
    assert.ok(bytes <= STATUS_BUDGET_BYTES, `${bytes} bytes`);
    assert.ok(STATUS_BUDGET_BYTES <= 1.5 * 1024 * 1024 / 2, 'the budget is at most half of etcd\'s limit');
    LiveUpdateNodeStatus.parse({ ...status, verification });
  });

  it('the operator preserves all 600, and spec.preserve takes them', () => {
    const v = verdict(report(inventory));
    assert.ok(v.eligible, v.eligible ? '' : `${v.reason}: ${v.message}`);
    assert.equal(v.preserve.length, LARGE_HOST.vfio);
    LiveUpdateNodeSpec.parse({ attempt: 1, action: 'None', preserve: v.preserve.map((bdf) => ({ bdf })) });
  });

  it('a rule matching functions that are only counted (not on vfio-pci) makes the node DevicesNotPreservable, naming them', () => {
    const v = verdict(report(inventory), { match: [{ ids: ['8086:1889'] }] });
    assert.equal(!v.eligible && v.reason, 'DevicesNotPreservable');
    assert.match(!v.eligible ? v.message : '', /3464 .*8086:1889/);
  });

  it('without requirePreservation such a rule still updates the node, preserving the listed matches', () => {
    const v = verdict(report(inventory), { match: [{ ids: ['8086:1889'] }], requirePreservation: false });
    assert.ok(v.eligible);
    assert.equal(v.preserve.length, LARGE_HOST.vfio);
  });

  it('a host with more requestable functions than the report can hold is skipped (InventoryIncomplete) before any cordon', () => {
    const many: Inventory = {
      errors: [],
      devices: Array.from({ length: DEVICE_LIMITS.devices + 1 }, (_, i) => ({
        ...inventory.devices.find((d) => d.driver === 'vfio-pci')!,
        bdf: bdfOf(i),
        upstream: [],
      })),
    };
    const status = LiveUpdateNodeStatus.parse(report(many));
    assert.match(status.inventoryIncomplete ?? '', new RegExp(`${DEVICE_LIMITS.devices + 1} .*vfio-pci`));
    const v = verdict(status);
    assert.equal(!v.eligible && v.reason, 'InventoryIncomplete');
  });

  it('more matching endpoints than spec.preserve holds: skipped (TooManyDevices), never claimed', () => {
    const gpu = { vendor: '10de', device: '2330', class: '030200', driver: 'vfio-pci', driverOverride: null, iommuGroup: null, busMaster: true, bridge: false, upstream: [], physfn: null, inUse: true };
    const status = LiveUpdateNodeStatus.parse(report({ errors: [], devices: Array.from({ length: DEVICE_LIMITS.preserve + 1 }, (_, i) => ({ ...gpu, bdf: bdfOf(i) })) }));
    assert.equal(status.inventoryIncomplete, undefined, 'the agent lists them all');
    const v = verdict(status);
    assert.equal(!v.eligible && v.reason, 'TooManyDevices');
    assert.match(!v.eligible ? v.message : '', new RegExp(`${DEVICE_LIMITS.preserve + 1}.*${DEVICE_LIMITS.preserve}`));
  });
});
