// The Node objects of the simulated fleet: created with their labels, their status written on the status subresource
// as a kubelet does (writes to the main resource ignore status). Strategic merge patch: conditions merge by type, so
// the fleet touches only Ready.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import { patchNode } from '../kube/core-writes';
import { isConflict, withTransientRetry } from '../kube/retry';
import type { ReadyCondition } from './ready';
import { apiClient } from '../kube/connections';

const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** What a kubelet reports about the machine; the fleet fills in the fields that change across kexec. */
export interface NodeBoot {
  bootID: string;
  kernelVersion: string;
}

const SYSTEM_INFO = {
  osImage: 'liveupdate simulated node',
  operatingSystem: 'linux',
  architecture: 'amd64',
  containerRuntimeVersion: 'sim://0',
  kubeletVersion: 'v0.0.0-sim',
  kubeProxyVersion: '',
  machineID: '',
  systemUUID: '',
};

/** How many images a kubelet reports at most (its nodeStatusMaxImages default). */
const REPORTED_IMAGES = 50;

/**
 * The rest of what a kubelet reports about a hypervisor: capacity, addresses, the other conditions and its 50 largest
 * images. Most of a real Node's size; the benches' fleets carry it (fullKubeletStatus) so their figures hold for real Nodes.
 */
function machineStatus(name: string, readyAt: Date) {
  const pressure = (type: string, reason: string, message: string) => ({ type, status: 'False', reason, message, lastHeartbeatTime: readyAt, lastTransitionTime: readyAt });
  const resources = { cpu: '192', memory: '1583292Mi', 'ephemeral-storage': '1844203Mi', 'hugepages-1Gi': '1024Gi', 'hugepages-2Mi': '0', pods: '110' };
  return {
    capacity: resources,
    allocatable: { ...resources, cpu: '188', memory: '1546012Mi' },
    addresses: [
      { type: 'InternalIP', address: '10.0.0.1' },
      { type: 'Hostname', address: name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    images: Array.from({ length: REPORTED_IMAGES }, (_, i) => ({
      names: [`registry.example.com/platform/component-${i}@sha256:${i.toString(16).padStart(64, '0')}`, `registry.example.com/platform/component-${i}:v1.${i}.0`],
      sizeBytes: 50_000_000 + i * 1_000_003,
    })),
    extraConditions: [
      pressure('MemoryPressure', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      pressure('DiskPressure', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      pressure('PIDPressure', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    ],
  };
}

/**
 * Creates the Node with its labels and first Ready condition (a Node's status is kept on create, as the kubelet's
 * registration relies on). One left by an earlier run of the fleet (same dir) gets the labels and the status.
 */
export async function registerNode(kc: KubeConfig, name: string, labels: Record<string, string>, ready: ReadyCondition, boot: NodeBoot, fullStatus = false): Promise<void> {
  const api = apiClient(kc, CoreV1Api);
  const condition = { ...ready, lastHeartbeatTime: new Date(ready.lastHeartbeatTime), lastTransitionTime: new Date(ready.lastTransitionTime) };
  const { extraConditions, ...machine } = fullStatus ? machineStatus(name, condition.lastHeartbeatTime) : { extraConditions: [] };
  const body: V1Node = { metadata: { name, labels }, status: { ...machine, conditions: [...extraConditions, condition], nodeInfo: { ...SYSTEM_INFO, ...boot } } };
  try {
    await withTransientRetry(() => api.createNode({ body }));
  } catch (err) {
    if (!isConflict(err)) throw err;
    await patchNode(kc, name, { metadata: { labels } });
    await writeNodeStatus(kc, name, ready, boot);
  }
}

/** Writes the Ready condition and, when the node (re)booted, its boot id and kernel release. */
export async function writeNodeStatus(kc: KubeConfig, name: string, ready: ReadyCondition, boot?: NodeBoot): Promise<void> {
  const api = apiClient(kc, CoreV1Api);
  const body = { status: { conditions: [ready], ...(boot ? { nodeInfo: boot } : {}) } };
  await withTransientRetry(() => api.patchNodeStatus({ name, body }, strategicMerge));
}
