import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HYPERVISOR_LABEL, nodeLabels, nodeNames, nodePaths, TOPOLOGY_LABEL, topologyOf, zoneOf } from '../../../src/sim/layout';
import { defaultTopologyMix, NO_PASSTHROUGH } from '../../../src/sim/prepare';
import { layoutTopology } from '../../../src/host/sim/topology';

describe('sim fleet layout', () => {
  it('names nodes prefix-01… zero-padded to the width of N, at least two digits', () => {
    assert.deepEqual(nodeNames(3), ['sim-node-01', 'sim-node-02', 'sim-node-03']);
    assert.equal(nodeNames(5000, 'fleet')[0], 'fleet-0001');
    assert.equal(nodeNames(5000, 'fleet')[4999], 'fleet-5000');
    const names = nodeNames(120);
    assert.deepEqual([...names].sort(), names, 'names sort in node order');
    assert.throws(() => nodeNames(0), /node count must be a whole number >= 1, got 0/);
    assert.throws(() => nodeNames(1.5), /got 1.5/);
  });

  it('spreads nodes over three zones and the topology mix round robin', () => {
    assert.deepEqual([0, 1, 2, 3, 4].map(zoneOf), ['zone-a', 'zone-b', 'zone-c', 'zone-a', 'zone-b']);
    assert.deepEqual([0, 1, 2, 3].map((i) => topologyOf(['x', 'y'], i)), ['x', 'y', 'x', 'y']);
    assert.throws(() => topologyOf([], 0), /empty/);
  });

  it('default mix: the shipped passthrough hosts and one host without any vfio-pci device', async () => {
    const mix = await defaultTopologyMix();
    assert.deepEqual(
      mix.map((t) => t.name),
      ['gpu8', 'nvme-sriov', 'mixed-switch', 'no-passthrough'],
    );
    assert.deepEqual(
      layoutTopology(NO_PASSTHROUGH.topology).devices.filter((d) => d.driver === 'vfio-pci'),
      [],
    );
  });

  it('labels: hostname, zone, the role the example plans select, and device-discovery labels of the topology', async () => {
    const [gpu8, nvme] = await defaultTopologyMix();
    assert.deepEqual(nodeLabels('sim-node-01', 0, gpu8!), {
      'kubernetes.io/hostname': 'sim-node-01',
      'kubernetes.io/os': 'linux',
      'topology.kubernetes.io/zone': 'zone-a',
      [HYPERVISOR_LABEL]: 'true',
      [TOPOLOGY_LABEL]: 'gpu8',
      'nvidia.com/gpu.product': 'H100-SXM5-80GB',
    });
    const labels = nodeLabels('sim-node-02', 1, nvme!);
    assert.equal(labels['storage.example.com/nvme-vf'], 'true');
    assert.equal(labels['nvidia.com/gpu.product'], undefined);
    assert.equal(nodeLabels('n', 2, NO_PASSTHROUGH)['topology.kubernetes.io/zone'], 'zone-c');
    assert.equal(HYPERVISOR_LABEL, 'node-role.example.com/hypervisor');
  });

  it('paths: the node dir is the sim dir, agent-state inside it, images shared', () => {
    assert.deepEqual(nodePaths('/f', 'sim-node-01'), {
      simDir: '/f/sim-node-01',
      stateDir: '/f/sim-node-01/agent-state',
      imageDir: '/f/images',
      log: '/f/sim-node-01/agent.log',
    });
  });
});
