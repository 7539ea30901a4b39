// The parts of a core Node the operator reads (the kubelet's and the cluster's object; we only read these fields).
import { z } from 'zod';
import { ObjectMeta } from './fields';

export const CoreNode = z.looseObject({
  apiVersion: z.literal('v1').optional(),
  kind: z.literal('Node').optional(),
  metadata: ObjectMeta,
  spec: z.looseObject({ unschedulable: z.boolean().optional() }).default({}),
  status: z
    .looseObject({
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
      nodeInfo: z.looseObject({ bootID: z.string().optional(), kernelVersion: z.string().optional() }).optional(),
    })
    .default({}),
});
export type CoreNode = z.infer<typeof CoreNode>;

export const nodeIsReady = (node: CoreNode): boolean => node.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
