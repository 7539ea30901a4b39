// fast-check arbitrary of random but valid simulated-host topologies (roots, ports, switches, endpoints, SR-IOV).
import fc from 'fast-check';
import type { TopologyInput } from '../../../src/host/sim/topology';

const mostlyOn = fc.integer({ min: 0, max: 9 }).map((n) => n > 0);
const endpointDriver = fc.constantFrom('vfio-pci', 'vfio-pci', 'nvme', 'nvidia', 'none');
const ids = fc.constantFrom(
  { vendor: '10de', device: '2330', class: '030200' },
  { vendor: '144d', device: 'a80a', class: '010802' },
  { vendor: '15b3', device: '101d', class: '020000' },
);

const virtualFunction = fc.record({ driver: endpointDriver, busMaster: fc.boolean() });
const endpoint = fc
  .record({
    ids,
    driver: endpointDriver,
    busMaster: fc.boolean(),
    configSize: fc.constantFrom(256 as const, 4096 as const),
    vfs: fc.array(virtualFunction, { maxLength: 3 }),
  })
  .map(({ ids: id, vfs, ...rest }) => ({
    kind: 'endpoint' as const,
    ...id,
    ...rest,
    ...(vfs.length > 0 ? { sriov: { vfDevice: 'f00d', vfs } } : {}),
  }));

type PortInput = NonNullable<TopologyInput['roots'][number]['ports']>[number];

const { port } = fc.letrec<{ port: PortInput; node: NonNullable<PortInput['devices']>[number]; pcieSwitch: unknown }>((tie) => ({
  port: fc.record({
    vendor: fc.constant('8086'),
    device: fc.constant('347a'),
    busMaster: mostlyOn,
    devices: fc.array(tie('node'), { maxLength: 2 }),
  }),
  node: fc.oneof({ maxDepth: 2, depthIdentifier: 'tree' }, endpoint, tie('pcieSwitch')) as fc.Arbitrary<
    NonNullable<PortInput['devices']>[number]
  >,
  pcieSwitch: fc.record({
    kind: fc.constant('switch' as const),
    vendor: fc.constant('1000'),
    device: fc.constant('c030'),
    busMaster: mostlyOn,
    downstream: fc.array(tie('port'), { minLength: 1, maxLength: 2 }),
  }),
}));

/** 1–3 root buses over two domains, each with root ports and possibly root-complex integrated endpoints. */
export const topologyArbitrary: fc.Arbitrary<TopologyInput> = fc
  .array(
    fc.record({
      domain: fc.constantFrom('0000', '0001'),
      ports: fc.array(port, { maxLength: 3 }),
      devices: fc.array(endpoint, { maxLength: 2 }),
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((roots) => ({
    // Root buses spread out like firmware does (pci0000:00, pci0000:40, ...), one domain counter each.
    roots: roots.map((r, i) => ({ ...r, bus: (roots.slice(0, i).filter((x) => x.domain === r.domain).length * 0x40).toString(16).padStart(2, '0') })),
  }));
