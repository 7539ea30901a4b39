// LiveUpdateNode (name = the Node's name): the only channel between operator (writes spec) and agent (writes status).
import { z } from 'zod';
import { API_VERSION, Bdf, CompatibleFrom, Conditions, KernelTarget, ObjectMeta, Time, withRules } from './fields';

const hex = (digits: number) => z.string().regex(new RegExp(`^[0-9a-f]{${digits}}$`), `must be ${digits} lowercase hex digits`);

/**
 * Bounds of a LiveUpdateNode. `devices` holds every function a plan may ask to preserve (each endpoint on vfio-pci)
 * with its bridges; `preserve` is what one claim may request. A host past either is skipped by the operator, never
 * truncated (the agent's status also keeps to STATUS_BUDGET_BYTES, in src/agent/status.ts).
 */
export const DEVICE_LIMITS = { devices: 2048, otherDeviceKinds: 256, preserve: 1024, preservationErrors: 256 } as const;

export const NodeAction = z.enum(['None', 'Prepare', 'Execute', 'Finish', 'Cancel']);

export const LiveUpdateNodeSpec = withRules(
  z.object({
    planRef: z.object({ name: z.string().min(1).max(253), uid: z.string().min(1).max(64) }).optional(),
    attempt: z.int().min(0).default(0).describe('Increments for every new try on this node; every action and report is keyed by (plan uid, node, attempt).'),
    action: NodeAction.default('None'),
    executeBy: Time.optional().describe(
      'With Execute: the agent issues the kexec only before this instant, else it cancels the attempt (ExecuteExpired). The operator sets it to the earlier of the open window\'s end and half of timeouts.nodeReturn, so a late Execute never kexecs outside a window or after the node was given up.',
    ),
    target: KernelTarget.optional(),
    compatibleFrom: CompatibleFrom.optional().describe('Copied from the plan: the agent refuses to prepare on a running release that matches none.'),
    preserve: z
      .array(z.object({ bdf: Bdf }))
      .max(DEVICE_LIMITS.preserve)
      .default([])
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['bdf'] }),
  }),
  { rule: "self.action == 'None' || has(self.planRef)", message: 'an action needs planRef', fieldPath: '.planRef', holds: (s) => s.action === 'None' || s.planRef !== undefined },
  {
    rule: "!(self.action in ['Prepare', 'Execute']) || has(self.target)",
    message: 'Prepare and Execute need target',
    fieldPath: '.target',
    holds: (s) => !['Prepare', 'Execute'].includes(s.action) || s.target !== undefined,
  },
);

export const AgentPhase = z.enum(['Idle', 'Preflight', 'Prepared', 'Executing', 'Rebooted', 'Verified', 'Finished', 'Cancelled', 'Failed']);

export const DeviceStatus = z.object({
  bdf: Bdf,
  vendor: hex(4),
  device: hex(4),
  class: hex(6),
  driver: z.string().max(64).optional(),
  iommuGroup: z.string().max(16).optional(),
  busMaster: z.boolean(),
  inUse: z.boolean(),
  upstream: z.array(Bdf).max(32).default([]).describe('Bridges above the device, nearest first, up to the root port.'),
  physfn: Bdf.optional(),
});

/** Functions the report counts instead of listing: none is on vfio-pci or a bridge above one, so none is preservable. */
export const OtherDevices = z.object({ vendor: hex(4), device: hex(4), class: hex(6), driver: z.string().max(64).optional(), count: z.int().min(1) });

const ms = z.int().min(0);

export const LiveUpdateNodeStatus = z.object({
  agent: z.object({ version: z.string().max(64), heartbeatTime: Time }).optional(),
  bootID: z.string().max(64).optional(),
  kernelRelease: z.string().max(128).optional(),
  luo: z.object({ api: z.enum(['mainline', 'legacy', 'none']), state: z.string().max(32).optional() }).optional(),
  devices: z
    .array(DeviceStatus)
    .max(DEVICE_LIMITS.devices)
    .optional()
    .describe('Every function when they fit; on a larger host every endpoint bound to vfio-pci and every bridge above one (the rest in otherDevices).'),
  otherDevices: z
    .array(OtherDevices)
    .max(DEVICE_LIMITS.otherDeviceKinds)
    .optional()
    .describe('The functions not in devices, counted by vendor, device, class and driver (a plan rule matching them finds devices it cannot preserve).'),
  inventoryIncomplete: z
    .string()
    .max(512)
    .optional()
    .describe('Why devices and otherDevices do not describe every PCI function (a bound was exceeded): the operator skips the node as InventoryIncomplete.'),
  preservation: z
    .array(z.object({ bdf: Bdf, flags: z.array(z.enum(['busmaster', 'busmaster-bridge'])).min(1).max(2) }))
    .max(DEVICE_LIMITS.devices)
    .optional(),
  preservationErrors: z
    .array(z.object({ bdf: Bdf, reason: z.string().max(64), message: z.string().max(512) }))
    .max(DEVICE_LIMITS.preservationErrors)
    .optional()
    .describe('Requested devices that cannot be preserved, and why (the operator skips the node as DevicesNotPreservable); the first of preservationErrorCount.'),
  preservationErrorCount: z.int().min(0).optional().describe('How many errors there are, listed or not.'),
  preservedDevices: z.int().min(0).optional().describe('Endpoints the preservation covers, for kubectl\'s Devices column.'),
  phase: AgentPhase.optional(),
  observedPlanUID: z.string().max(64).optional().describe('The plan uid of the request this status answers; with observedAttempt, the key every request and answer carries.'),
  observedAttempt: z.int().min(0).optional(),
  kexecIssuedAt: Time.optional().describe('The point of no return: set just before reboot(KEXEC).'),
  verification: z
    .array(
      z.object({
        bdf: Bdf,
        busMasterBefore: z.boolean(),
        busMasterAfter: z.boolean(),
        driverAfter: z.string().max(64).optional(),
        dmaContinuous: z.boolean().optional(),
      }),
    )
    .max(DEVICE_LIMITS.devices)
    .optional(),
  timings: z.object({ prepareMs: ms, kexecMs: ms, blackoutMs: ms, verifyMs: ms, finishMs: ms }).partial().optional(),
  lastError: z.object({ reason: z.string().max(128), message: z.string().max(4096) }).optional(),
  conditions: Conditions.optional(),
});

export const LiveUpdateNode = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('LiveUpdateNode'),
  metadata: ObjectMeta,
  spec: LiveUpdateNodeSpec,
  status: LiveUpdateNodeStatus.optional(),
});

export type LiveUpdateNode = z.infer<typeof LiveUpdateNode>;
export type LiveUpdateNodeSpec = z.infer<typeof LiveUpdateNodeSpec>;
export type LiveUpdateNodeStatus = z.infer<typeof LiveUpdateNodeStatus>;
export type AgentPhase = z.infer<typeof AgentPhase>;
