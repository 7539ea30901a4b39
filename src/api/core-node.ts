// The parts of a core Node the operator reads (the kubelet's and the cluster's object). Everything else is dropped at
// parse time, as controller-runtime's cache transforms do: a real Node's status (images, volumes, capacity, addresses)
// is most of its size, and the operator caches every Node of the fleet.
import { z } from 'zod';
import { ObjectMeta } from './fields';

export const CoreNode = z.object({
  apiVersion: z.literal('v1').optional(),
  kind: z.literal('Node').optional(),
  metadata: ObjectMeta,
  spec: z.object({ unschedulable: z.boolean().optional() }).default({}),
  status: z
    .object({
      conditions: z.array(z.object({ type: z.string(), status: z.string() })).optional(),
      nodeInfo: z.object({ bootID: z.string().optional(), kernelVersion: z.string().optional() }).optional(),
    })
    .default({}),
});
export type CoreNode = z.infer<typeof CoreNode>;

export const nodeIsReady = (node: CoreNode): boolean => node.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
