// A simulated host far past the old device caps (issue 18 item 3): 4 096 PCI functions — 16 root ports, each with an
// SR-IOV NIC PF and 254 VFs — of which 600 VFs are bound to vfio-pci. Generated, not shipped: only tests need it.
import type { NamedTopology } from '../../src/sim/layout';
import { layoutTopology, parseTopology } from '../../src/host/sim/topology';
import type { Inventory } from '../../src/host/types';

export const LARGE_HOST = { functions: 4096, vfio: 600, ports: 16, vfsPerPort: 254 } as const;

export function largeTopology(): NamedTopology {
  const { ports, vfsPerPort, vfio } = LARGE_HOST;
  let passthrough = 0;
  const topology = parseTopology(
    {
      name: 'large-sriov',
      description: `${LARGE_HOST.functions} functions, ${vfio} VFs bound to vfio-pci`,
      roots: [
        {
          bus: '00',
          ports: Array.from({ length: ports }, () => ({
            vendor: '8086',
            device: '347a',
            devices: [
              {
                kind: 'endpoint' as const,
                vendor: '8086',
                device: '1592',
                class: '020000',
                driver: 'none' as const,
                // 38 or 37 per PF until 600 are passed through; the rest stay on the host (no driver).
                sriov: { vfDevice: '1889', vfs: Array.from({ length: vfsPerPort }, (_, i) => ({ driver: i < 38 && passthrough++ < vfio ? ('vfio-pci' as const) : ('none' as const) })) },
              },
            ],
          })),
        },
      ],
    },
    'large-sriov',
  );
  return { name: 'large-sriov', topology };
}

/** The host layer's inventory of the topology, without writing its sysfs tree (for pure tests). */
export function largeInventory(): Inventory {
  const { devices } = layoutTopology(largeTopology().topology);
  return {
    errors: [],
    devices: devices.map((d) => ({
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
      inUse: false,
    })),
  };
}
