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
import { UsageError } from './usage';

export interface OperatorOptions {
  kubeconfig?: string;
  namespace: string;
  leaderElect?: boolean;
  leaderElectionId: string;
  metricsBindAddress: string;
  healthProbeBindAddress: string;
  workers: string;
  planSelector?: string;
}

export async function run(values: OperatorOptions): Promise<number> {
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
    metricsBindAddress: values.metricsBindAddress,
    healthProbeBindAddress: values.healthProbeBindAddress,
    ...(values.leaderElect ? { leaderElection: { namespace: values.namespace, name: values.leaderElectionId, identity } } : {}),
  });
  const plans = manager.informer({ kind: planKind, ...(values.planSelector ? { labelSelector: values.planSelector } : {}) });
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
  log.info({ identity, leaderElect: values.leaderElect === true }, 'starting');
  return runUntilSignalled(manager);
}
