// The example plan the demo applies, and the approval it appends to it, as a user would with kubectl.
import { API_VERSION } from '../api/fields';
import type { LiveUpdatePlan } from '../api/plan';
import { layoutTopology, type Topology } from '../host/sim/topology';
import type { KernelsIndex } from '../sim/kernels';
import type { FleetNode } from './view';

export const DEMO_PLAN = 'demo-rollout';
export const TARGET_RELEASE = '6.19.4-lu2';
export const COMPATIBLE_FROM = '6.19.*';
/** Nodes without passthrough devices still get the new kernel (nothing to preserve there) rather than being skipped. */
export const ON_NODES_WITHOUT_DEVICES = 'LiveUpdate';

/** A fleet node with what the plan's device rules make of its topology. */
export interface DemoNode extends FleetNode {
  /** vfio-pci endpoints with bus master set: what the plan preserves. */
  preservable: string[];
  /** vfio-pci endpoints with bus master clear (no VM running): requirePreservation makes the plan skip the node. */
  notPreservable: string[];
}

export function demoNode(name: string, topology: { name: string; topology: Topology }): DemoNode {
  const passthrough = layoutTopology(topology.topology).devices.filter((d) => !d.bridge && d.driver === 'vfio-pci');
  return {
    name,
    topology: topology.name,
    preservable: passthrough.filter((d) => d.busMaster).map((d) => d.bdf),
    notPreservable: passthrough.filter((d) => !d.busMaster).map((d) => d.bdf),
  };
}

/** Why the plan will skip this node, if it will. */
export function expectedSkip(node: DemoNode): string | undefined {
  if (node.notPreservable.length === 0) return undefined;
  return `${node.notPreservable.join(', ')} on vfio-pci with bus master clear (no VM running) cannot be preserved: requirePreservation keeps the node out`;
}

export function demoPlan(nodes: readonly string[], kernels: KernelsIndex, release = TARGET_RELEASE): object {
  const kernel = kernels[release];
  if (!kernel) throw new Error(`kernels.json has no ${release} (it has ${Object.keys(kernels).join(', ') || 'nothing'})`);
  return {
    apiVersion: API_VERSION,
    kind: 'LiveUpdatePlan',
    metadata: { name: DEMO_PLAN },
    spec: {
      target: { kernel: { release, image: kernel.image, sha256: kernel.sha256 }, compatibleFrom: [COMPATIBLE_FROM] },
      selector: { nodeNames: [...nodes] },
      // match: [] = every endpoint on vfio-pci; a node whose DMA cannot be kept is failed rather than cut.
      devices: { match: [], requirePreservation: true, onNodesWithoutDevices: ON_NODES_WITHOUT_DEVICES },
      // maxUnavailable counts cordoned nodes: at its default of 1 it would cap maxInFlight at 1.
      strategy: { maxInFlight: 2, maxUnavailable: 2, steps: [{ nodes: 1, pause: {} }, { nodes: '100%' }] },
      failurePolicy: { maxFailedNodes: 0, onFailure: 'Halt' },
      // A simulated reboot takes seconds: a lost node is declared within the demo's patience, not after 15 minutes.
      timeouts: { prepare: '2m', nodeReturn: '1m', verify: '1m', finish: '1m' },
    },
  };
}

/** The step whose pause the plan is waiting in for an approval, if any. */
export function pendingApproval(plan: LiveUpdatePlan): number | undefined {
  const pause = plan.status?.pause;
  if (!pause) return undefined;
  if (plan.spec.strategy.steps[pause.step]?.pause?.duration !== undefined) return undefined;
  return plan.spec.approvals.some((a) => a.step === pause.step) ? undefined : pause.step;
}

/** The merge patch that appends an approval: approvals is append-only, and a merge patch replaces the whole list. */
export function approvalPatch(plan: LiveUpdatePlan, step: number, at: Date): { spec: Pick<LiveUpdatePlan['spec'], 'approvals'> } {
  return { spec: { approvals: [...plan.spec.approvals, { step, by: 'demo', at: at.toISOString() }] } };
}
