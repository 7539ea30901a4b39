// Topology files: schema errors carry the path of the bad field; shipped topologies describe what they claim.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { layoutTopology, loadTopologyFile, parseTopology, TopologyError } from '../../../src/host/sim/topology';
import { tempDir } from './kernel-tree';

const TOPOLOGIES = join(__dirname, '../../../src/host/sim/topologies');

function issuesOf(value: unknown): string[] {
  try {
    parseTopology(value);
  } catch (err) {
    assert.ok(err instanceof TopologyError);
    return err.issues;
  }
  assert.fail('expected the topology to be rejected');
}

const gpu = { kind: 'endpoint', vendor: '10de', device: '2330', class: '030200', driver: 'vfio-pci' } as const;
const port = (devices: unknown[]) => ({ vendor: '8086', device: '347a', devices });

describe('topology validation', () => {
  it('names the path of a bad field', () => {
    const topology = { roots: [{ bus: '00', ports: [port([]), port([gpu, gpu, { ...gpu, vendor: 'NVDA' }])] }] };
    assert.deepEqual(issuesOf(topology), ['topology.roots[0].ports[1].devices[2].vendor: expected 4 lowercase hex digits like "10de"']);
  });

  it('rejects unknown keys, bad enums, bad slots and bridge classes on endpoints, each at its path', () => {
    const topology = {
      roots: [
        {
          bus: '00',
          ports: [
            { ...port([{ ...gpu, driver: 'amdgpu' }, { ...gpu, slot: '20.0' }, { ...gpu, class: '060400' }]), vendr: '8086' },
          ],
        },
      ],
    };
    const issues = issuesOf(topology);
    const at = (prefix: string) => issues.some((i) => i.startsWith(prefix));
    assert.ok(at('topology.roots[0].ports[0]: '), issues.join('\n'));
    assert.ok(at('topology.roots[0].ports[0].devices[0].driver: '), issues.join('\n'));
    assert.ok(at('topology.roots[0].ports[0].devices[1].slot: expected device.function'), issues.join('\n'));
    assert.ok(at('topology.roots[0].ports[0].devices[2].class: an endpoint cannot have the PCI bridge class'), issues.join('\n'));
    assert.match(issues.find((i) => i.startsWith('topology.roots[0].ports[0]: '))!, /vendr/);
  });

  it('rejects an unknown node kind and an empty topology', () => {
    assert.ok(issuesOf({ roots: [{ bus: '00', ports: [port([{ ...gpu, kind: 'gpu' }])] }] })[0]!.startsWith('topology.roots[0].ports[0].devices[0]'));
    assert.ok(issuesOf({ roots: [] })[0]!.startsWith('topology.roots: '));
    assert.ok(issuesOf([])[0]!.startsWith('topology: '));
  });

  it('rejects two functions at one address, naming both places', () => {
    const topology = { roots: [{ bus: '00', ports: [port([{ ...gpu, slot: '00.0' }, { ...gpu, slot: '00.0' }])] }] };
    assert.deepEqual(issuesOf(topology), [
      'topology.roots[0].ports[0].devices[1]: address 0000:01:00.0 is already taken by topology.roots[0].ports[0].devices[0]',
    ]);
  });

  it('rejects a bus number claimed twice', () => {
    const topology = {
      roots: [
        { bus: '00', ports: [{ ...port([]), secondaryBus: '05' }] },
        { bus: '04', ports: [{ ...port([]), secondaryBus: '05' }] },
        { bus: '05' },
      ],
    };
    assert.deepEqual(issuesOf(topology), [
      'topology.roots[1].ports[0].secondaryBus: bus 0000:05 is already topology.roots[0].ports[0].secondaryBus',
      'topology.roots[2].bus: bus 0000:05 is already topology.roots[1].ports[0].secondaryBus',
    ]);
  });

  it('reports a file that is not JSON with its name', async () => {
    const tmp = await tempDir('lu-topology-');
    try {
      const file = join(tmp.dir, 'broken.json');
      await writeFile(file, '{ "roots": [');
      await assert.rejects(loadTopologyFile(file), (err: unknown) => err instanceof TopologyError && err.message.startsWith(`${file}: `));
    } finally {
      await tmp.remove();
    }
  });
});

describe('layout', () => {
  it('numbers buses depth-first and slots in order, like firmware', () => {
    const input = {
      roots: [
        {
          bus: '00',
          ports: [
            port([{ kind: 'switch', vendor: '1000', device: 'c030', downstream: [port([gpu]), port([gpu])] }]),
            port([{ ...gpu, sriov: { vfDevice: '2331', vfs: [{ driver: 'vfio-pci' }, {}] } }]),
          ],
        },
      ],
    };
    const { devices, problems } = layoutTopology(parseTopology(input));
    assert.deepEqual(problems, []);
    assert.deepEqual(
      devices.map((d) => [d.bdf, d.upstream.join('<'), d.buses ? `${d.buses.primary}-${d.buses.secondary}-${d.buses.subordinate}` : '']),
      [
        ['0000:00:01.0', '', '0-1-4'],
        ['0000:01:00.0', '0000:00:01.0', '1-2-4'],
        ['0000:02:00.0', '0000:01:00.0<0000:00:01.0', '2-3-3'],
        ['0000:03:00.0', '0000:02:00.0<0000:01:00.0<0000:00:01.0', ''],
        ['0000:02:01.0', '0000:01:00.0<0000:00:01.0', '2-4-4'],
        ['0000:04:00.0', '0000:02:01.0<0000:01:00.0<0000:00:01.0', ''],
        ['0000:00:02.0', '', '0-5-5'],
        ['0000:05:00.0', '0000:00:02.0', ''],
        ['0000:05:00.1', '0000:00:02.0', ''],
        ['0000:05:00.2', '0000:00:02.0', ''],
      ],
    );
    const vf = devices.find((d) => d.bdf === '0000:05:00.2')!;
    assert.deepEqual([vf.physfn, vf.device, vf.driver, vf.busMaster], ['0000:05:00.0', '2331', null, false]);
  });
});

describe('shipped topologies', () => {
  const load = async (name: string) => layoutTopology(await loadTopologyFile(join(TOPOLOGIES, `${name}.json`))).devices;

  it('gpu8: eight NVIDIA GPUs on vfio-pci, each behind a PCIe switch', async () => {
    const gpus = (await load('gpu8')).filter((d) => d.vendor === '10de');
    assert.equal(gpus.length, 8);
    for (const g of gpus) {
      assert.equal(g.driver, 'vfio-pci');
      assert.equal(g.upstream.length, 3, `${g.bdf}: downstream port, switch upstream port, root port`);
    }
    assert.ok(new Set(gpus.map((g) => g.upstream[1])).size >= 2, 'several switches');
  });

  it('nvme-sriov: the seed VF 8086:1457 at 0000:05:00.1 below root port 0000:04:01.0 on root bus pci0000:04', async () => {
    const vf = (await load('nvme-sriov')).find((d) => d.bdf === '0000:05:00.1')!;
    assert.deepEqual([vf.vendor, vf.device, vf.driver, vf.physfn, vf.upstream], ['8086', '1457', 'vfio-pci', '0000:05:00.0', ['0000:04:01.0']]);
    assert.equal(vf.dir, 'pci0000:04/0000:04:01.0/0000:05:00.1');
  });

  it('mixed-switch: one switch carries vfio-pci and host-driver devices', async () => {
    const devices = await load('mixed-switch');
    const bySwitch = new Map<string, Set<string | null>>();
    for (const d of devices.filter((x) => !x.bridge && x.upstream.length >= 2)) {
      const sw = d.upstream[1]!;
      bySwitch.set(sw, (bySwitch.get(sw) ?? new Set()).add(d.driver));
    }
    assert.ok(
      [...bySwitch.values()].some((drivers) => drivers.has('vfio-pci') && [...drivers].some((x) => x !== 'vfio-pci')),
      'a switch with both kinds',
    );
  });
});
