// LiveUpdatePlan: what kernel, which nodes, how fast, which gates, what to do on failure. Its status feeds dashboards.
import { z } from 'zod';
import { API_VERSION, Conditions, defaulted, Duration, intOrPercent, CompatibleFrom, KernelTarget, LabelSelector, ObjectMeta, positiveDuration, Time, withRules } from './fields';

export const NodeName = z.string().min(1).max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Kubernetes node name');

export const Target = z.object({
  kernel: KernelTarget,
  compatibleFrom: CompatibleFrom,
});

export const Selector = withRules(
  z.object({
    nodeSelector: LabelSelector.optional(),
    excludeSelector: LabelSelector.optional(),
    nodeNames: z.array(NodeName).max(1000).optional(),
  }),
  {
    rule: 'has(self.nodeSelector) || (has(self.nodeNames) && size(self.nodeNames) > 0)',
    message: 'selector must set nodeSelector or nodeNames (nodeSelector: {} selects every node)',
    holds: (s) => s.nodeSelector !== undefined || (s.nodeNames ?? []).length > 0,
  },
);

export const DeviceMatch = withRules(
  z.object({
    ids: z.array(z.string().regex(/^[0-9a-f]{4}:([0-9a-f]{4}|\*)$/, 'must be vendor:device like 10de:2330 or 10de:*')).max(64).optional().describe('vendor:device as 4+4 lowercase hex digits; device may be * (any device of the vendor).'),
    classPrefixes: z.array(z.string().regex(/^([0-9a-f]{2}){1,3}$/, 'must be 2, 4 or 6 lowercase hex digits')).max(16).optional().describe('Leading hex digits of the 24-bit class code, e.g. 0302 (3D controller) or 0108 (NVMe).'),
    drivers: z.array(z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/)).max(16).optional(),
    inUseOnly: z.boolean().default(false).describe('Only devices some VMM holds open (VFIO group or cdev).'),
  }),
  {
    rule: 'has(self.ids) || has(self.classPrefixes) || has(self.drivers)',
    message: 'a device match needs ids, classPrefixes or drivers',
    holds: (m) => m.ids !== undefined || m.classPrefixes !== undefined || m.drivers !== undefined,
  },
);

export const Devices = defaulted(
  z.object({
    match: z.array(DeviceMatch).max(32).default([]).describe('Devices whose DMA must survive; empty means every endpoint bound to vfio-pci.'),
    requirePreservation: z.boolean().default(true).describe('Nodes with matching devices must keep their DMA alive through the update (fail rather than cut DMA).'),
    onNodesWithoutDevices: z.enum(['Skip', 'LiveUpdate']).default('Skip'),
  }),
);

export const Step = z.object({
  nodes: intOrPercent(1, 'steps[].nodes').describe('Nodes done when this step ends, cumulative (like Argo\'s setWeight); the first step is the canary.'),
  pause: z.object({ duration: positiveDuration('pause.duration').optional() }).optional().describe('Pause after the step: for a duration, or without one until the step is approved (spec.approvals, `kubectl liveupdate approve`).'),
});

export const Window = z.object({
  schedule: z
    .string()
    .max(128)
    .regex(/^\s*([0-9*/,?A-Za-z-]+\s+){4}[0-9*/,?A-Za-z-]+\s*$/, 'must be a 5-field cron expression like "0 2 * * 1-5"')
    .describe('Standard 5-field cron (minute hour day-of-month month day-of-week) of window starts.'),
  duration: positiveDuration('window duration', '168h').describe('How long the window stays open after each start.'),
  timeZone: z.string().max(64).regex(/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/, 'must be an IANA time zone like Europe/Paris').default('UTC'),
});

export const Strategy = defaulted(
  z.object({
    maxUnavailable: intOrPercent(1, 'maxUnavailable').default(1).describe('Nodes that may be unavailable at once, counting nodes already NotReady or cordoned by anyone.'),
    maxInFlight: intOrPercent(1, 'maxInFlight').default(1).describe('Nodes this plan moves through the phases at once.'),
    steps: z.array(Step).max(32).default([]),
    nodeSoak: Duration.default('0s').describe('Wait after a node succeeds before counting it done.'),
    order: z.enum(['Name', 'Zone', 'Random']).default('Name'),
    windows: z.array(Window).max(16).default([]),
    paused: z.boolean().default(false),
    mode: z.enum(['Preview', 'Execute']).default('Execute'),
  }),
);

export const FailurePolicy = defaulted(
  z.object({
    maxFailedNodes: intOrPercent(0, 'maxFailedNodes').default(0),
    onFailure: z.enum(['Halt', 'Continue', 'CancelInFlight']).default('Halt'),
  }),
);

export const Timeouts = defaulted(
  z.object({
    prepare: positiveDuration('timeouts.prepare').default('10m'),
    nodeReturn: positiveDuration('timeouts.nodeReturn').default('15m'),
    verify: positiveDuration('timeouts.verify').default('5m'),
    finish: positiveDuration('timeouts.finish').default('5m'),
  }),
);

/** A human's go-ahead for the pause after a step: append-only, so who approved what stays on the object (and in the audit log). */
export const Approval = z.object({
  step: z.int().min(0).max(31).describe('Index of the step whose pause this ends (0 = the canary).'),
  by: z.string().min(1).max(253).describe('Who approved (the plugin writes the kubeconfig user; the apiserver audit log has the authenticated one).'),
  at: Time,
  note: z.string().max(1024).optional(),
});

export const LiveUpdatePlanSpec = z.object({
  target: Target,
  selector: Selector,
  devices: Devices,
  strategy: Strategy,
  failurePolicy: FailurePolicy,
  timeouts: Timeouts,
  approvals: z
    .array(Approval)
    .max(64)
    .default([])
    .meta({ 'x-kubernetes-validations': [{ rule: 'size(self) >= size(oldSelf) && oldSelf.all(a, a in self)', message: 'approvals are append-only' }] }),
  abort: z
    .boolean()
    .default(false)
    // A transition rule (oldSelf): only the apiserver can check it.
    .meta({
      description: 'Cancel everything before the point of no return and stop. Cannot be unset.',
      'x-kubernetes-validations': [{ rule: 'self || !oldSelf', message: 'abort cannot be unset once set: create a new plan to roll again' }],
    }),
});

export const PlanPhase = z.enum(['Pending', 'Previewed', 'WaitingForWindow', 'Progressing', 'Paused', 'Halted', 'Aborting', 'Completed', 'Failed', 'Aborted']);

/** The operator's view of one node in a rollout (Pending → … → Succeeded, or a failure exit). */
export const NodeRolloutPhase = z.enum([
  'Pending',
  'Cordoned',
  'Preparing',
  'Prepared',
  'Executing',
  'Rebooted',
  'Verifying',
  'Finishing',
  'Finished',
  'Uncordoned',
  'Succeeded',
  'Cancelling',
  'Cancelled',
  'Failed',
  'Skipped',
]);

const count = z.int().min(0);

export const LiveUpdatePlanStatus = z.object({
  observedGeneration: count.optional(),
  phase: PlanPhase.optional(),
  conditions: Conditions.optional(),
  summary: z
    .object({ selected: count, eligible: count, pending: count, inFlight: count, succeeded: count, failed: count, cancelled: count, skipped: count })
    .optional(),
  progress: z.string().max(32).optional().describe('"succeeded/selected", for kubectl and dashboards.'),
  currentStep: count.optional(),
  currentNodes: z.array(NodeName).max(256).optional(),
  failedNodes: z
    .array(z.object({ node: NodeName, phase: NodeRolloutPhase, reason: z.string().max(128), message: z.string().max(1024), at: Time }))
    .max(50)
    .optional(),
  pauseReasons: z.array(z.string().max(256)).max(16).optional(),
  pause: z.object({ step: count, since: Time }).optional().describe('The pause after a step that is in effect, and since when (a timed pause ends at since + duration).'),
  skippedNodes: z
    .array(z.object({ node: NodeName, reason: z.string().max(64), message: z.string().max(512) }))
    .max(256)
    .optional()
    .describe('Selected nodes this plan will not update, and why (first 256; summary.skipped counts all).'),
  nextWindowStart: Time.optional(),
  startedAt: Time.optional(),
  completedAt: Time.optional(),
  preview: z
    .object({
      eligible: count.describe('Nodes the plan would update: order lists the first 500 of them.'),
      selected: count.describe('Nodes the selector names: nodes lists the first 256 of them by name.'),
      order: z.array(NodeName).max(500).describe('Rollout order, first 500 (eligible counts all).'),
      batches: z
        .array(z.object({ step: count, size: count.describe('Nodes in this batch.'), nodes: z.array(NodeName).max(10).describe('Its first 10 nodes, in rollout order.') }))
        .max(33)
        .describe('Per step (the last may be the implicit 100% step): how many nodes, and the first of them.'),
      nodes: z
        .array(z.object({ node: NodeName, eligible: z.boolean(), reason: z.string().max(64).optional(), message: z.string().max(512).optional() }))
        .max(256)
        .optional()
        .describe('Eligibility of the selected nodes, first 256 by name (selected counts all).'),
    })
    .optional()
    .describe('Bounded lists with counts: the status of a fleet of any size stays well under etcd\'s 1.5 MiB object limit.'),
});

export const LiveUpdatePlan = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('LiveUpdatePlan'),
    metadata: ObjectMeta,
    spec: LiveUpdatePlanSpec,
    status: LiveUpdatePlanStatus.optional(),
  })
  // Transition rules (oldSelf): only the apiserver can check them. The operator writes status.startedAt before its
  // first cordon or claim, guarded by the resourceVersion it planned from, so no node is ever claimed for a target
  // or mode that can still change.
  .meta({
    'x-kubernetes-validations': [
      {
        rule: '!has(oldSelf.status) || !has(oldSelf.status.startedAt) || self.spec.target == oldSelf.spec.target',
        message: 'spec.target is immutable once the plan has started: create a new plan for another kernel',
        fieldPath: '.spec.target',
      },
      {
        rule: '!has(oldSelf.status) || !has(oldSelf.status.startedAt) || self.spec.strategy.mode == oldSelf.spec.strategy.mode',
        message: 'spec.strategy.mode cannot change once the plan has started: pause it (spec.strategy.paused) or abort it (spec.abort) instead',
        fieldPath: '.spec.strategy.mode',
      },
    ],
  });

export type LiveUpdatePlan = z.infer<typeof LiveUpdatePlan>;
export type LiveUpdatePlanSpec = z.infer<typeof LiveUpdatePlanSpec>;
export type LiveUpdatePlanStatus = z.infer<typeof LiveUpdatePlanStatus>;
export type PlanPhase = z.infer<typeof PlanPhase>;
export type NodeRolloutPhase = z.infer<typeof NodeRolloutPhase>;
