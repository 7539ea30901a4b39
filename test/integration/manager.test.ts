// The manager on a real apiserver: readiness follows the informers (with the reason), controllers reconcile,
// /metrics carries controller-runtime's names, and a leader-elected process hands over on SIGTERM and exits 0.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { CoordinationV1Api, CoreV1Api, RbacAuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { planResource } from '../../src/kube/cluster-resource';
import { planKind } from '../../src/kube/kinds';
import { Manager } from '../../src/kube/manager';
import { adminKubeConfig, serviceAccountKubeConfig, uniqueName } from '../support/kube';
import { validPlan } from '../support/plans';
import { waitFor } from '../support/wait';

const get = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
};

const METRIC_NAMES = [
  'workqueue_depth',
  'workqueue_adds_total',
  'workqueue_retries_total',
  'workqueue_queue_duration_seconds',
  'workqueue_work_duration_seconds',
  'workqueue_unfinished_work_seconds',
  'workqueue_longest_running_processor_seconds',
  'controller_runtime_reconcile_total',
  'controller_runtime_reconcile_errors_total',
  'controller_runtime_reconcile_time_seconds',
  'leader_election_master_status',
  'process_cpu_seconds_total',
];

describe('manager in process', () => {
  let kc: KubeConfig;
  before(() => {
    kc = adminKubeConfig();
  });

  it('is not ready until its informers sync, says why, then reconciles every object', async () => {
    const namespace = 'default';
    const account = uniqueName('manager');
    const denied = await serviceAccountKubeConfig(kc, namespace, account);
    const manager = new Manager({ kc: denied, healthProbeBindAddress: '127.0.0.1:0', metricsBindAddress: '127.0.0.1:0' });
    const plans = manager.informer({ kind: planKind, backoff: { initialMs: 200, maxMs: 1000 } });
    const reconciled = new Set<string>();
    manager.controller({ name: 'plans', workers: 2, reconcile: async (key) => void reconciled.add(key) }).watch(plans);
    const name = uniqueName('plan');
    await planResource(kc).create(validPlan(name));
    const running = manager.start();
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const role = uniqueName('plan-reader');
    try {
      const [metricsAddress, probeAddress] = await waitFor('servers bound', () => (manager.addresses.length === 2 ? manager.addresses : undefined));
      const notReady = await waitFor('readyz names the 403', async () => {
        const r = await get(`http://${probeAddress}/readyz`);
        return r.status === 503 && /liveupdateplans: list failed: HTTP 403/.test(r.body) ? r : undefined;
      });
      assert.equal(notReady.status, 503);
      assert.equal((await get(`http://${probeAddress}/healthz`)).status, 200, 'liveness stays up while not ready');
      assert.equal(reconciled.size, 0);

      await rbac.createClusterRole({ body: { metadata: { name: role }, rules: [{ apiGroups: ['liveupdate.dev'], resources: ['liveupdateplans'], verbs: ['list', 'watch'] }] } });
      await rbac.createClusterRoleBinding({
        body: { metadata: { name: role }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ kind: 'ServiceAccount', name: account, namespace }] },
      });
      await waitFor('ready', async () => (await get(`http://${probeAddress}/readyz`)).status === 200, 30_000);
      await waitFor('the plan reconciled', () => reconciled.has(name));
      const metrics = await get(`http://${metricsAddress}/metrics`);
      assert.match(metrics.body, /controller_runtime_reconcile_total\{[^}]*controller="plans"[^}]*result="success"[^}]*\} [1-9]/);
      assert.match(metrics.body, /workqueue_adds_total\{name="plans"\} [1-9]/);
    } finally {
      manager.stop();
      assert.equal(await running, 'shutdown');
      await planResource(kc).delete(name);
      await rbac.deleteClusterRoleBinding({ name: role }).catch(() => undefined);
      await rbac.deleteClusterRole({ name: role }).catch(() => undefined);
      await kc.makeApiClient(CoreV1Api).deleteNamespacedServiceAccount({ name: account, namespace });
    }
  });
});

interface Program {
  child: ChildProcess;
  identity: string;
  metrics: string;
  probes: string;
  exit: Promise<number | null>;
}

const fixture = path.resolve(__dirname, '../fixtures/manager-program.ts');

async function startProgram(lease: string, identity: string): Promise<Program> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register', fixture, process.env.LIVEUPDATE_TEST_KUBECONFIG ?? '', lease, identity], {
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    void exit.then((code) => reject(new Error(`manager program exited with ${code} before serving`)));
  });
  const announced = JSON.parse(line) as { metrics: string; probes: string };
  return { child, identity, exit, ...announced };
}

describe('manager as a leader-elected process', () => {
  let kc: KubeConfig;
  const programs: Program[] = [];
  const lease = uniqueName('manager-lease');

  before(() => {
    kc = adminKubeConfig();
  });
  after(() => {
    for (const p of programs) p.child.kill('SIGKILL');
  });

  const holder = async () => (await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: lease, namespace: 'default' })).spec?.holderIdentity ?? '';

  it('one replica leads, both are ready, SIGTERM hands over at once and exits 0, the last one releases the Lease', async () => {
    programs.push(await startProgram(lease, 'replica-a'), await startProgram(lease, 'replica-b'));
    const leaderId = await waitFor('a leader', async () => (await holder()) || undefined, 30_000);
    const leader = programs.find((p) => p.identity === leaderId)!;
    const standby = programs.find((p) => p.identity !== leaderId)!;
    for (const p of programs) await waitFor(`${p.identity} ready`, async () => (await get(`http://${p.probes}/readyz`)).status === 200, 30_000);

    const leaderMetrics = (await get(`http://${leader.metrics}/metrics`)).body;
    for (const name of METRIC_NAMES) assert.ok(leaderMetrics.includes(`# TYPE ${name} `), `leader /metrics lacks ${name}`);
    assert.match(leaderMetrics, new RegExp(`leader_election_master_status\\{name="${lease}"\\} 1`));
    assert.doesNotMatch((await get(`http://${standby.metrics}/metrics`)).body, new RegExp(`leader_election_master_status\\{name="${lease}"\\} 1`));

    const stopAt = Date.now();
    leader.child.kill('SIGTERM');
    assert.equal(await leader.exit, 0);
    await waitFor('standby takes over', async () => (await holder()) === standby.identity, 10_000, 20);
    const handover = Date.now() - stopAt;
    assert.ok(handover < 2000 + 1000, `hand-over took ${handover} ms`); // release is immediate; +1 s for process exit on a loaded machine
    console.log(`# graceful hand-over (SIGTERM → standby holds the Lease): ${handover} ms`);

    standby.child.kill('SIGTERM');
    assert.equal(await standby.exit, 0);
    assert.equal(await holder(), '', 'the last replica released the Lease on SIGTERM');
  });
});
