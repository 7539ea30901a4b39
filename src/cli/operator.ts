// `liveupdate operator`: the rollout engine (Deployment, two replicas, one leads).
import { KubeConfig } from '@kubernetes/client-node';
import { nodeResource, planResource } from '../kube/cluster-resource';
import { EventRecorder } from '../kube/events';
import { coreNodeKind, nodeRecordKind, planKind } from '../kube/kinds';
import { defaultIdentity } from '../kube/leader-election';
import { createLogger } from '../kube/log';
import { Manager, runUntilSignalled } from '../kube/manager';
import { Executor } from '../operator/executor';
import { RolloutMetrics } from '../operator/metrics';
import { PlanReconciler } from '../operator/reconciler';
import { parseOptions, UsageError } from './usage';

const HELP = `usage: liveupdate operator [--kubeconfig FILE] [--namespace NS] [--leader-elect] [--leader-election-id NAME]
                           [--metrics-bind-address ADDR] [--health-probe-bind-address ADDR] [--workers N]
                           [--plan-selector LABELS]

Reconciles LiveUpdatePlans: selects and orders nodes, claims them, cordons, drives each node's agent through
Prepare → Execute → Finish, and cancels or halts on failure. Without --kubeconfig: KUBECONFIG, ~/.kube/config or
in-cluster. --namespace holds the leader-election Lease (default: the pod's namespace or "default").
--plan-selector limits this operator to the plans whose labels match (a label selector, e.g. shard=a): several
operators can share a cluster without touching each other's plans. Addresses take controller-runtime's form (":8080", "127.0.0.1:0"; "0" disables). SIGTERM drains and exits 0.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseOptions({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', default: process.env.POD_NAMESPACE ?? 'default' },
      'leader-elect': { type: 'boolean', default: false },
      'leader-election-id': { type: 'string', default: 'liveupdate-operator' },
      'metrics-bind-address': { type: 'string', default: ':8080' },
      'health-probe-bind-address': { type: 'string', default: ':8081' },
      workers: { type: 'string', default: '2' },
      'plan-selector': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`operator: --workers must be a whole number >= 1, not "${values.workers}"`);
  const kc = new KubeConfig();
  if (values.kubeconfig) kc.loadFromFile(values.kubeconfig);
  else kc.loadFromDefault();
  const log = createLogger('liveupdate-operator');
  const identity = defaultIdentity();

  const manager = new Manager({
    kc,
    log,
    metricsBindAddress: values['metrics-bind-address'],
    healthProbeBindAddress: values['health-probe-bind-address'],
    ...(values['leader-elect'] ? { leaderElection: { namespace: values.namespace, name: values['leader-election-id'], identity } } : {}),
  });
  const plans = manager.informer({ kind: planKind, ...(values['plan-selector'] ? { labelSelector: values['plan-selector'] } : {}) });
  const records = manager.informer({ kind: nodeRecordKind });
  const nodes = manager.informer({ kind: coreNodeKind });
  const recordsApi = nodeResource(kc);
  const reconciler = new PlanReconciler({
    plans,
    nodes,
    records,
    planApi: planResource(kc),
    executor: new Executor({ kc, records: recordsApi, node: (n) => nodes.get(n), record: (n) => records.get(n), now: () => new Date() }),
    events: new EventRecorder({ kc, reportingController: 'liveupdate.dev/operator', reportingInstance: identity, log }),
    metrics: new RolloutMetrics(manager.metrics.registry),
  });
  const controller = manager.controller({ name: 'liveupdateplan', workers, reconcile: (key, ctx) => reconciler.reconcile(key, ctx) });
  // Spec changes (and deletion) of a plan; every agent report on a node record; every Node change.
  controller.watch(plans, { generationChanged: true });
  controller.watch(records, { map: (r) => reconciler.plansOfRecord(r) });
  controller.watch(nodes, { map: () => reconciler.allPlans() });
  log.info({ identity, leaderElect: values['leader-elect'] }, 'starting');
  return runUntilSignalled(manager);
}
