// Fleets and plans for the planner's tests: builders for table-driven cases and fast-check arbitraries for the
// simulation (random fleets, plans, agent behaviours and clocks).
import fc from 'fast-check';
import type { LiveUpdateNodeStatus } from '../../src/api/node';
import { LiveUpdatePlan } from '../../src/api/plan';
import type { NodeRecordView, NodeView } from '../../src/operator/model';

export const PLAN_UID = 'uid-plan-a';
export const TARGET = '6.19.4-lu2';
export const RUNNING = '6.19.2';
export const ZONE = 'topology.kubernetes.io/zone';

type Json = Record<string, unknown>;
type Device = NonNullable<LiveUpdateNodeStatus['devices']>[number];

/** A parsed plan (every default applied) selecting role=hypervisor; `spec` is merged over the defaults one level deep. */
export function makePlan(spec: Json = {}, meta: Json = {}): LiveUpdatePlan {
  const base: Json = {
    target: { kernel: { release: TARGET, image: '/var/lib/liveupdate/vmlinuz', sha256: 'a'.repeat(64) }, compatibleFrom: ['6.19.*'] },
    selector: { nodeSelector: { matchLabels: { role: 'hypervisor' } } },
  };
  return LiveUpdatePlan.parse({
    apiVersion: 'liveupdate.dev/v1alpha1',
    kind: 'LiveUpdatePlan',
    metadata: { name: 'plan-a', uid: PLAN_UID, generation: 1, ...meta },
    spec: { ...base, ...spec },
  });
}

const BRIDGE = '0000:00:01.0';
export const GPU = '0000:05:00.0';

export const bridge = (bdf = BRIDGE): Device => ({ bdf, vendor: '8086', device: '1234', class: '060400', busMaster: true, inUse: false, upstream: [] });
export const gpu = (bdf = GPU, over: Partial<Device> = {}): Device => ({
  bdf,
  vendor: '10de',
  device: '2330',
  class: '030200',
  driver: 'vfio-pci',
  busMaster: true,
  inUse: true,
  upstream: [BRIDGE],
  ...over,
});

export function agentStatus(over: Partial<LiveUpdateNodeStatus> = {}, bootID = 'boot-0'): LiveUpdateNodeStatus {
  return { bootID, kernelRelease: RUNNING, luo: { api: 'mainline' }, devices: [bridge(), gpu()], phase: 'Idle', ...over };
}

export interface NodeOptions {
  labels?: Record<string, string>;
  ready?: boolean;
  unschedulable?: boolean;
  cordonedBy?: string;
  bootID?: string;
  /** undefined: an idle agent with one GPU; null: no LiveUpdateNode at all. */
  record?: Partial<NodeRecordView> | null;
}

export function makeNode(name: string, o: NodeOptions = {}): NodeView {
  const bootID = o.bootID ?? 'boot-0';
  const node: NodeView = { name, labels: { role: 'hypervisor', ...o.labels }, ready: o.ready ?? true, unschedulable: o.unschedulable ?? false, bootID };
  if (o.cordonedBy) node.cordonedBy = o.cordonedBy;
  if (o.record !== null) node.record = { resourceVersion: '1', attempt: 0, action: 'None', status: agentStatus({}, bootID), ...o.record };
  return node;
}

// ---- arbitraries for the simulation ----

/** How the model agent answers one node's requests. */
export interface AgentBehaviour {
  /** Ticks before the agent answers a request (a prepare runs that long, whatever the spec says meanwhile). */
  delay: number;
  /** Ticks before what the agent publishes reaches the operator's cache. */
  lag: number;
  fault: 'none' | 'prepareFails' | 'kexecRefused' | 'neverReturns' | 'dmaLost' | 'finishFails' | 'silent';
}

export interface SimNode {
  name: string;
  zone?: string;
  ready: boolean;
  unschedulable: boolean;
  release: string;
  luo: 'mainline' | 'legacy' | 'none';
  hasGpu: boolean;
  agent: boolean;
  behaviour: AgentBehaviour;
}

const wellBehaved: AgentBehaviour = { delay: 0, lag: 0, fault: 'none' };

const behaviour: fc.Arbitrary<AgentBehaviour> = fc.record({
  delay: fc.integer({ min: 0, max: 3 }),
  lag: fc.integer({ min: 0, max: 2 }),
  fault: fc.oneof(
    { weight: 6, arbitrary: fc.constant('none' as const) },
    { weight: 1, arbitrary: fc.constantFrom('prepareFails', 'kexecRefused', 'neverReturns', 'dmaLost', 'finishFails', 'silent') },
  ),
});

const mostly = <T>(usual: T, rare: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: rare });

const simNode = (healthy: boolean): fc.Arbitrary<Omit<SimNode, 'name'>> =>
  fc.record({
    zone: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }),
    ready: healthy ? fc.constant(true) : mostly(true, fc.constant(false)),
    unschedulable: healthy ? fc.constant(false) : mostly(false, fc.constant(true)),
    release: healthy ? fc.constant(RUNNING) : mostly(RUNNING, fc.constantFrom(TARGET, '6.18.1')),
    luo: healthy ? fc.constant('mainline' as const) : mostly('mainline' as const, fc.constantFrom('legacy' as const, 'none' as const)),
    hasGpu: healthy ? fc.constant(true) : mostly(true, fc.constant(false)),
    agent: healthy ? fc.constant(true) : mostly(true, fc.constant(false)),
    behaviour: healthy ? fc.constant(wellBehaved) : behaviour,
  });

/** 1 to 12 nodes; `healthy`: all Ready, schedulable, eligible, with agents that always succeed at once. */
export const fleetArbitrary = (healthy: boolean): fc.Arbitrary<SimNode[]> =>
  fc.array(simNode(healthy), { minLength: 1, maxLength: 12 }).map((nodes) => nodes.map((n, i) => ({ name: `hv-${String(i).padStart(2, '0')}`, ...n })));

const intOrPercent = (min: number, max: number) => fc.oneof(fc.integer({ min, max }), fc.integer({ min: Math.max(min, 1), max: 100 }).map((p) => `${p}%`));

/** The strategy and failure policy of a random plan, as spec fields; `healthy`: no pauses, windows or aborts. */
export interface SimPlan {
  spec: Json;
  /** The tick at which spec.abort is set, if ever. */
  abortAt?: number;
}

const windows = fc.constantFrom(
  [],
  [{ schedule: '*/20 * * * *', duration: '10m' }],
  [{ schedule: '0 * * * *', duration: '30m', timeZone: 'Europe/Paris' }],
  [{ schedule: '30 2 * * *', duration: '4h', timeZone: 'America/New_York' }],
);

export const planArbitrary = (healthy: boolean): fc.Arbitrary<SimPlan> =>
  fc
    .record({
      maxInFlight: intOrPercent(1, 4),
      maxUnavailable: intOrPercent(1, 4),
      steps: fc.array(
        fc.record(
          { nodes: intOrPercent(1, 8), pause: healthy ? fc.constant(undefined) : fc.option(fc.constantFrom({}, { duration: '5m' }), { nil: undefined }) },
          { requiredKeys: ['nodes'] },
        ),
        { maxLength: 3 },
      ),
      order: fc.constantFrom('Name', 'Zone', 'Random'),
      nodeSoak: fc.constantFrom('0s', '2m'),
      windows: healthy ? fc.constant([]) : windows,
      maxFailedNodes: healthy ? fc.constant(0) : intOrPercent(0, 3),
      onFailure: fc.constantFrom('Halt', 'Continue', 'CancelInFlight'),
      abortAt: healthy ? fc.constant(undefined) : fc.option(fc.integer({ min: 0, max: 80 }), { nil: undefined }),
    })
    .map(({ maxInFlight, maxUnavailable, steps, order, nodeSoak, windows, maxFailedNodes, onFailure, abortAt }) => ({
      spec: {
        selector: { nodeSelector: {} },
        strategy: { maxInFlight, maxUnavailable, steps: steps.map((s) => (s.pause === undefined ? { nodes: s.nodes } : s)), order, nodeSoak, windows },
        failurePolicy: { maxFailedNodes, onFailure },
      },
      ...(abortAt === undefined ? {} : { abortAt }),
    }));

/** Milliseconds between planner passes: from a quick re-queue to a long quiet spell. */
export const tickArbitrary = fc.array(fc.constantFrom(5_000, 30_000, 60_000, 180_000, 600_000), { minLength: 120, maxLength: 120 });
