// The Helm chart's values as a zod schema: `npm run gen` writes charts/liveupdate-operator/values.yaml (the defaults,
// commented with the descriptions) and values.schema.json from it, so a bad value fails `helm install` with its path.
import { z } from 'zod';

const Quantity = z.union([z.string().regex(/^[0-9.]+[a-zA-Z]*$/, 'must be a quantity like 100m or 128Mi'), z.number().min(0)]);
const Resources = z.strictObject({
  requests: z.record(z.string(), Quantity).optional(),
  limits: z.record(z.string(), Quantity).optional(),
});
const Labels = z.record(z.string(), z.string());
const PrometheusDuration = z.string().regex(/^([0-9]+(ms|s|m|h|d|w|y))+$/, 'must be a Prometheus duration like 30s, 15m or 2h');
const Port = z.int().min(1).max(65535);
const ContainerImage = z.strictObject({
  repository: z.string().min(1).default('ghcr.io/liveupdate-dev/liveupdate-operator').describe('Image of the `liveupdate` binary (operator and agent).'),
  tag: z.string().default('').describe('Image tag; empty means the chart appVersion.'),
  digest: z
    .string()
    .regex(/^(sha256:[0-9a-f]{64})?$/, 'must be sha256:<64 hex digits> or empty')
    .default('')
    .describe('Pins the image by digest (sha256:…); wins over the tag when set.'),
  pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
});
// Kubernetes objects the chart passes through untouched: the apiserver validates them.
const Tolerations = z.array(z.looseObject({ key: z.string().optional(), operator: z.enum(['Exists', 'Equal']).optional(), effect: z.string().optional() }));
const Affinity = z.looseObject({});
const ServiceAccount = z.strictObject({
  create: z.boolean().default(true).describe('Create the service account; false uses an existing one named `name`.'),
  name: z.string().default('').describe('Name; empty means <release fullname>-<component>.'),
  annotations: Labels.default({}),
});

/**
 * The operator's runtime memory settings as shipped (see `operator.runtimeEnv`); bench:scale runs the operator with
 * them. The old-space cap is 3/4 of the default memory limit (512Mi): V8 then collects instead of growing its heap.
 */
export const OPERATOR_RUNTIME_ENV: Record<string, string> = { NODE_OPTIONS: '--max-semi-space-size=2 --max-old-space-size=384', MALLOC_ARENA_MAX: '2' };

const Operator = z.strictObject({
  replicas: z.int().min(1).max(10).default(2).describe('Replicas; one leads (Lease in the release namespace), the others wait as hot standbys.'),
  leaderElection: z.strictObject({
    enabled: z.boolean().default(true).describe('--leader-elect; turn off only with replicas: 1.'),
    id: z
      .string()
      .regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$/, 'must be a DNS-1123 name')
      .max(253)
      .default('')
      .describe('Lease name; empty means <release fullname>.'),
  }).prefault({}),
  workers: z.int().min(1).max(64).default(2).describe('--workers: plans reconciled in parallel.'),
  planSelector: z.string().max(1024).default('').describe('--plan-selector: only plans whose labels match (shards several operators in one cluster); empty means all.'),
  metricsPort: Port.default(8080).describe('--metrics-bind-address port (Prometheus /metrics).'),
  healthProbePort: Port.default(8081).describe('--health-probe-bind-address port (/healthz, /readyz).'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  runtimeEnv: Labels.default(OPERATOR_RUNTIME_ENV).describe(
    "Node.js and glibc memory settings for the operator container (bench:scale measures the operator with these). V8 sizes its heap from the machine, not the container: its default young generation reserves about 100 MB and its old space grows to gigabytes before collecting; glibc's per-thread arenas keep what bursts of list responses freed. Keep --max-old-space-size at about 3/4 of resources.limits.memory and raise both together for fleets beyond 5 000 nodes.",
  ),
  resources: Resources.default({ requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } }),
  nodeSelector: Labels.default({}).describe('Keep the operator off the nodes a plan updates (e.g. select control-plane or infrastructure nodes): a kexec of its own node costs a leader handover mid-rollout.'),
  tolerations: Tolerations.default([]),
  affinity: Affinity.default({}).describe(
    'Without a podAntiAffinity here the chart adds a preferred one on kubernetes.io/hostname, so the leader and its standby do not share a node.',
  ),
  priorityClassName: z.string().default(''),
  podAnnotations: Labels.default({}),
  serviceAccount: ServiceAccount.prefault({}),
});

const UpdateStrategy = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('RollingUpdate'), rollingUpdate: z.strictObject({ maxUnavailable: z.union([z.int().min(1), z.string().regex(/^[0-9]+%$/)]) }).optional() }),
  z.strictObject({ type: z.literal('OnDelete') }),
]);

const Agent = z.strictObject({
  enabled: z.boolean().default(true).describe('Run the node agent DaemonSet.'),
  imageDir: z
    .string()
    .regex(/^\/[^\0]*$/, 'must be an absolute host path')
    .default('/var/lib/liveupdate/images')
    .describe('Host directory holding the kernel images a plan may load; mounted read-only at the same path (--image-dir).'),
  stateDir: z
    .string()
    .regex(/^\/[^\0]*$/, 'must be an absolute host path')
    .default('/var/lib/liveupdate-agent')
    .describe("Host directory of the agent's journal; it must survive the pod and the kexec (--state-dir)."),
  healthProbePort: Port.default(8082).describe('--health-probe-bind-address port (/healthz, /readyz).'),
  inventoryIntervalSeconds: z.int().min(1).max(3600).default(30).describe('--inventory-interval: how often an idle agent re-reads its devices.'),
  capabilities: z
    .array(z.enum(['SYS_BOOT', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'SYS_ADMIN']))
    .max(4)
    .default(['SYS_BOOT', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'SYS_ADMIN'])
    .describe('Capabilities added to an otherwise empty set (see the chart README for why each is needed).'),
  privileged: z
    .boolean()
    .default(false)
    .describe('Runtimes that keep the device cgroup closed for hostPath character devices need this (or a device plugin) to open /dev/liveupdate and /dev/vfio.'),
  seccompProfile: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('Unconfined') }),
      z.strictObject({ type: z.literal('RuntimeDefault') }),
      z.strictObject({ type: z.literal('Localhost'), localhostProfile: z.string().min(1) }),
    ])
    .default({ type: 'Unconfined' })
    .describe('Runtime default profiles block kexec_file_load; use a Localhost profile that allows it to confine the agent.'),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  resources: Resources.default({ requests: { cpu: '20m', memory: '96Mi' }, limits: { memory: '384Mi' } }),
  nodeSelector: Labels.default({}).describe('Nodes that run the agent (label your LUO-capable hypervisors and select them here).'),
  tolerations: Tolerations.default([{ operator: 'Exists' }]).describe('Tolerates every taint by default: a node cordoned by a plan must keep its agent.'),
  affinity: Affinity.default({}),
  updateStrategy: UpdateStrategy.default({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } }).describe(
    'RollingUpdate, or OnDelete to replace an agent only when you delete its pod (never mid-update).',
  ),
  priorityClassName: z.string().default('system-node-critical').describe('An evicted agent cancels an unexecuted live update; keep it node-critical.'),
  podAnnotations: Labels.default({}),
  serviceAccount: ServiceAccount.prefault({}),
});

export const ChartValues = z.strictObject({
  nameOverride: z.string().default(''),
  fullnameOverride: z.string().default(''),
  image: ContainerImage.prefault({}),
  imagePullSecrets: z.array(z.strictObject({ name: z.string().min(1) })).default([]),
  crds: z
    .strictObject({
      enabled: z.boolean().default(true).describe('Install the LiveUpdatePlan and LiveUpdateNode CRDs with the chart.'),
      keep: z.boolean().default(true).describe('helm.sh/resource-policy: keep on the CRDs, so `helm uninstall` does not delete every plan.'),
    })
    .prefault({}),
  operator: Operator.prefault({}),
  agent: Agent.prefault({}),
  rbac: z
    .strictObject({
      aggregateToDefaultRoles: z
        .boolean()
        .default(true)
        .describe(
          'Aggregate read access into `view` (and so `edit` and `admin`). Writing plans is never aggregated: a plan picks the kernel and command line every hypervisor boots, so bind the <release fullname>-plan-writer ClusterRole to whoever may.',
        ),
    })
    .prefault({}),
  admissionPolicy: z
    .strictObject({
      enabled: z
        .boolean()
        .default(true)
        .describe(
          'ValidatingAdmissionPolicies: an agent writes only the status of the LiveUpdateNode named after its own node; a plan adds only allowed kernel parameters.',
        ),
      cmdlineAppendAllowed: z
        .array(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be a kernel parameter name like loglevel (no =value)'))
        .max(256)
        .default(['liveupdate', 'kho', 'kho_scratch', 'quiet', 'loglevel', 'console', 'panic', 'printk.devkmsg'])
        .describe(
          'Kernel parameter names a plan may add (spec.target.kernel.cmdline.append, as name or name=value). Everything else is refused: init=, lockdown=, module.sig_enforce= and the like hand root or the kernel\'s integrity to whoever writes plans.',
        ),
    })
    .prefault({}),
  serviceMonitor: z
    .strictObject({
      enabled: z.boolean().default(false).describe('A Prometheus Operator ServiceMonitor for the operator metrics.'),
      interval: PrometheusDuration.default('30s'),
      labels: Labels.default({}),
    })
    .prefault({}),
  podDisruptionBudget: z
    .strictObject({
      enabled: z
        .boolean()
        .default(false)
        .describe('A PodDisruptionBudget for the operator Deployment; refused when minAvailable >= operator.replicas, which would block every drain of its nodes.'),
      minAvailable: z.int().min(0).default(1),
    })
    .prefault({}),
  prometheusRule: z
    .strictObject({
      enabled: z.boolean().default(false).describe('Prometheus Operator alerts: plan halted, node failed after the point of no return, node held too long, DMA lost.'),
      labels: Labels.default({}),
      nodeHeldFor: PrometheusDuration.default('2h').describe('Alert when a plan keeps nodes cordoned mid-update for longer than this (set it above your plans\' timeouts).'),
    })
    .prefault({}),
  grafanaDashboard: z
    .strictObject({
      enabled: z.boolean().default(false).describe("A ConfigMap holding a Grafana dashboard, for Grafana's dashboard sidecar."),
      labels: Labels.default({ grafana_dashboard: '1' }),
    })
    .prefault({}),
});

export type ChartValues = z.infer<typeof ChartValues>;

/** values.schema.json: draft-07, the input side (every defaulted field optional). */
export function chartValuesSchema(): object {
  return z.toJSONSchema(ChartValues, { target: 'draft-07', io: 'input', unrepresentable: 'throw' });
}
