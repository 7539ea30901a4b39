// Leader election against the real apiserver, with short timings (lease 3 s, renew deadline 2 s, retry 0.5 s).
// Time bounds follow from the algorithm: a standby measures expiry from when *it* saw the last renewal, and polls
// every retry × [1, 2.2), so a killed leader is replaced after lease − retry … lease + 2 × 2.2 × retry.
import assert from 'node:assert/strict';
import { afterEach, before, describe, it, type TestContext } from 'node:test';
import { performance } from 'node:perf_hooks';
import {
  CoordinationV1Api,
  CoreV1Api,
  HttpMethod,
  RbacAuthorizationV1Api,
  RequestContext,
  type KubeConfig,
  type V1Lease,
} from '@kubernetes/client-node';
import { fetch } from 'undici';
import { sleep } from '../../src/kube/backoff';
import { defaultIdentity, LeaderElector, type LeaderElectorOptions } from '../../src/kube/leader-election';
import { v1MicroTime } from '../../src/kube/micro-time';
import { adminKubeConfig, serviceAccountKubeConfig, uniqueName } from '../support/kube';

const NAMESPACE = 'default';
const LEASE_MS = 3_000;
const RENEW_DEADLINE_MS = 2_000;
const RETRY_MS = 500;
const MICRO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await predicate())) {
    if (performance.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

interface Candidate {
  identity: string;
  elector: LeaderElector;
  started: number;
  stopped: number;
  /** performance.now() at onStartedLeading / onStoppedLeading. */
  startedAt?: number;
  stoppedAt?: number;
  newLeaders: string[];
  finished: boolean;
}

describe('LeaderElector on a real Lease', () => {
  let kc: KubeConfig;
  let leases: CoordinationV1Api;
  let candidates: Candidate[] = [];
  let cleanups: Array<() => Promise<unknown>> = [];

  before(() => {
    kc = adminKubeConfig();
    leases = kc.makeApiClient(CoordinationV1Api);
  });

  afterEach(async () => {
    await Promise.all(candidates.map((c) => c.elector.stop()));
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    candidates = [];
    cleanups = [];
  });

  function leaseName(): string {
    const name = uniqueName('lease');
    cleanups.push(() => leases.deleteNamespacedLease({ name, namespace: NAMESPACE }));
    return name;
  }

  function candidate(name: string, overrides: Partial<LeaderElectorOptions> = {}): Candidate {
    const identity = defaultIdentity();
    const c: Candidate = {
      identity,
      started: 0,
      stopped: 0,
      newLeaders: [],
      finished: false,
      elector: new LeaderElector({
        kc,
        namespace: NAMESPACE,
        name,
        identity,
        leaseDurationMs: LEASE_MS,
        renewDeadlineMs: RENEW_DEADLINE_MS,
        retryPeriodMs: RETRY_MS,
        onStartedLeading: () => {
          c.started++;
          c.startedAt = performance.now();
        },
        onStoppedLeading: () => {
          c.stopped++;
          c.stoppedAt = performance.now();
        },
        onNewLeader: (leader) => c.newLeaders.push(leader),
        ...overrides,
      }),
    };
    void c.elector.run().then(() => (c.finished = true));
    candidates.push(c);
    return c;
  }

  /** The Lease exactly as the apiserver stores it, bypassing client-node's models. */
  async function rawLease(name: string): Promise<{ metadata: { resourceVersion: string }; spec: Record<string, unknown> }> {
    const url = `${kc.getCurrentCluster()?.server}/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${name}`;
    const ctx = new RequestContext(url, HttpMethod.GET);
    await kc.applySecurityAuthentication(ctx);
    const response = await fetch(url, { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() as never });
    assert.equal(response.status, 200, `GET lease ${name}`);
    return (await response.json()) as { metadata: { resourceVersion: string }; spec: Record<string, unknown> };
  }

  async function twoCandidates(name: string): Promise<{ leader: Candidate; standby: Candidate }> {
    const a = candidate(name);
    const b = candidate(name);
    await waitFor(() => a.elector.isLeader() || b.elector.isLeader(), 5_000, 'a leader');
    const [leader, standby] = a.elector.isLeader() ? [a, b] : [b, a];
    await waitFor(() => standby.newLeaders.length > 0, 5_000, 'the standby to observe the leader');
    return { leader, standby };
  }

  /** Writes `holder` into the Lease as a third party would, retrying when a renewal slips in between. */
  async function overwriteHolder(name: string, holder: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const lease = await leases.readNamespacedLease({ name, namespace: NAMESPACE });
      const at = v1MicroTime();
      const body: V1Lease = { ...lease, spec: { ...lease.spec, holderIdentity: holder, leaseDurationSeconds: 30, acquireTime: at, renewTime: at } };
      try {
        await leases.replaceNamespacedLease({ name, namespace: NAMESPACE, body });
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== 409 || attempt > 10) throw err;
      }
    }
  }

  it('rejects inconsistent timings, naming the option', () => {
    const base = { kc: adminKubeConfig(), namespace: NAMESPACE, name: 'x', identity: 'me' };
    assert.throws(() => new LeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }), /leaseDurationMs \(10000\) must be greater than renewDeadlineMs/);
    assert.throws(() => new LeaderElector({ ...base, renewDeadlineMs: 2_400, retryPeriodMs: 2_000 }), /renewDeadlineMs \(2400\) must be greater than 1\.2 × retryPeriodMs/);
    assert.throws(() => new LeaderElector({ ...base, retryPeriodMs: 0 }), /retryPeriodMs must be a positive/);
    assert.throws(() => new LeaderElector({ ...base, identity: '' }), /identity must not be empty/);
  });

  it('defaultIdentity is the pod (or host) name with a random suffix', () => {
    const saved = process.env.POD_NAME;
    try {
      process.env.POD_NAME = 'operator-7d9f-abcde';
      const [a, b] = [defaultIdentity(), defaultIdentity()];
      assert.match(a, /^operator-7d9f-abcde_[0-9a-f]{12}$/);
      assert.notEqual(a, b);
    } finally {
      if (saved === undefined) delete process.env.POD_NAME;
      else process.env.POD_NAME = saved;
    }
  });

  it('two electors on one Lease: exactly one leads, and the Lease names it with MicroTime stamps', async () => {
    const name = leaseName();
    const { leader, standby } = await twoCandidates(name);

    // Several retry periods: never two leaders, never a change of leader.
    const until = performance.now() + 4 * RETRY_MS;
    while (performance.now() < until) {
      assert.ok(leader.elector.isLeader() && !standby.elector.isLeader(), 'exactly one leader');
      await sleep(25);
    }
    assert.equal(leader.started, 1);
    assert.equal(standby.started, 0);
    assert.deepEqual(leader.newLeaders, [leader.identity]);
    assert.deepEqual(standby.newLeaders, [leader.identity]);

    const first = await rawLease(name);
    assert.equal(first.spec.holderIdentity, leader.identity);
    assert.equal(first.spec.leaseDurationSeconds, LEASE_MS / 1000);
    assert.equal(first.spec.leaseTransitions, 0);
    assert.match(String(first.spec.renewTime), MICRO);
    assert.match(String(first.spec.acquireTime), MICRO);
    // Renewals keep coming, each written with six digits, and leave acquireTime alone.
    await waitFor(async () => (await rawLease(name)).spec.renewTime !== first.spec.renewTime, 3 * RETRY_MS, 'a renewal');
    const renewed = await rawLease(name);
    assert.match(String(renewed.spec.renewTime), MICRO);
    assert.equal(renewed.spec.acquireTime, first.spec.acquireTime);
    assert.equal(renewed.spec.holderIdentity, leader.identity);
  });

  it('when the leader stops renewing (killed / paused), the standby takes over after the lease duration', async (t: TestContext) => {
    const name = leaseName();
    const { leader, standby } = await twoCandidates(name);
    const stoppedAt = performance.now();
    await leader.elector.stop({ release: false });
    assert.equal(leader.finished, true);
    assert.equal(leader.stopped, 1);
    assert.equal((await rawLease(name)).spec.holderIdentity, leader.identity, 'a killed leader leaves the Lease as it was');

    const upper = LEASE_MS + 2 * 2.2 * RETRY_MS + 500;
    await waitFor(() => standby.startedAt !== undefined, upper, 'the standby to take over');
    const takeover = (standby.startedAt ?? 0) - stoppedAt;
    t.diagnostic(`takeover after a killed leader: ${Math.round(takeover)} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`);
    assert.ok(takeover >= LEASE_MS - RETRY_MS - 200, `took over before the lease could have expired: ${takeover} ms`);
    const lease = await rawLease(name);
    assert.equal(lease.spec.holderIdentity, standby.identity);
    assert.equal(lease.spec.leaseTransitions, 1);
    assert.match(String(lease.spec.acquireTime), MICRO);
    assert.ok(standby.elector.isLeader());
  });

  it('a graceful stop releases the Lease and hands over in under 2 s', async (t: TestContext) => {
    const name = leaseName();
    const { leader, standby } = await twoCandidates(name);
    const stoppedAt = performance.now();
    await leader.elector.stop();
    assert.equal(leader.finished, true);
    assert.equal(leader.stopped, 1);
    assert.equal(leader.elector.isLeader(), false);

    await waitFor(() => standby.startedAt !== undefined, 2_000, 'the standby to take over');
    const handover = (standby.startedAt ?? 0) - stoppedAt;
    t.diagnostic(`hand-over after a graceful stop: ${Math.round(handover)} ms`);
    assert.ok(handover < 2_000);
    const lease = await rawLease(name);
    assert.equal(lease.spec.holderIdentity, standby.identity);
    assert.equal(lease.spec.leaseDurationSeconds, LEASE_MS / 1000);
    assert.equal(lease.spec.leaseTransitions, 1);
  });

  it('release writes an empty holder with a 1 s lease duration', async () => {
    const name = leaseName();
    const leader = candidate(name);
    await waitFor(() => leader.elector.isLeader(), 5_000, 'leadership');
    await leader.elector.stop();
    const lease = await rawLease(name);
    assert.equal(lease.spec.holderIdentity ?? '', '');
    assert.equal(lease.spec.leaseDurationSeconds, 1);
    assert.match(String(lease.spec.renewTime), MICRO);
    assert.equal(leader.stopped, 1);
  });

  it('a leader whose Lease is taken over by a third party steps down and run() resolves', async () => {
    const name = leaseName();
    const leader = candidate(name);
    await waitFor(() => leader.elector.isLeader(), 5_000, 'leadership');
    const takenAt = performance.now();
    await overwriteHolder(name, 'intruder');

    await waitFor(() => leader.finished, RENEW_DEADLINE_MS + 1_000, 'run() to resolve');
    assert.equal(leader.stopped, 1);
    assert.equal(leader.elector.isLeader(), false);
    assert.ok((leader.stoppedAt ?? Infinity) - takenAt < RENEW_DEADLINE_MS);
    assert.equal((await rawLease(name)).spec.holderIdentity, 'intruder', 'the loser does not fight back');
  });

  it('a leader whose Lease is deleted and re-created by someone else steps down', async () => {
    const name = leaseName();
    const leader = candidate(name);
    await waitFor(() => leader.elector.isLeader(), 5_000, 'leadership');
    const at = v1MicroTime();
    const body: V1Lease = {
      metadata: { name, namespace: NAMESPACE },
      spec: { holderIdentity: 'other', leaseDurationSeconds: 30, acquireTime: at, renewTime: at, leaseTransitions: 0 },
    };
    // The leader may re-create the Lease itself between our delete and create: then delete again.
    for (let attempt = 0; ; attempt++) {
      await leases.deleteNamespacedLease({ name, namespace: NAMESPACE }).catch(() => undefined);
      try {
        await leases.createNamespacedLease({ namespace: NAMESPACE, body });
        break;
      } catch (err) {
        if ((err as { code?: number }).code !== 409 || attempt > 10) throw err;
      }
    }

    await waitFor(() => leader.finished, RENEW_DEADLINE_MS + 1_000, 'run() to resolve');
    assert.equal(leader.stopped, 1);
    assert.equal(leader.elector.isLeader(), false);
    assert.equal((await rawLease(name)).spec.holderIdentity, 'other');
  });

  it('a leader whose renewals keep failing steps down at the renew deadline', async (t: TestContext) => {
    const name = leaseName();
    const account = uniqueName('elector');
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    cleanups.push(
      () => rbac.deleteNamespacedRole({ name: account, namespace: NAMESPACE }),
      () => rbac.deleteNamespacedRoleBinding({ name: account, namespace: NAMESPACE }),
      () => core.deleteNamespacedServiceAccount({ name: account, namespace: NAMESPACE }),
    );
    await rbac.createNamespacedRole({
      namespace: NAMESPACE,
      body: {
        metadata: { name: account },
        rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: NAMESPACE,
      body: {
        metadata: { name: account },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account },
        subjects: [{ kind: 'ServiceAccount', name: account, namespace: NAMESPACE }],
      },
    });
    const leader = candidate(name, { kc: await serviceAccountKubeConfig(kc, NAMESPACE, account) });
    await waitFor(() => leader.elector.isLeader(), 5_000, 'leadership');

    // Every renewal is now denied (403): nothing tells the leader it lost, only the deadline. One renewal may still
    // slip through before the authorizer sees the deletion, hence the retry period of slack above the deadline.
    const revokedAt = performance.now();
    await rbac.deleteNamespacedRoleBinding({ name: account, namespace: NAMESPACE });
    await waitFor(() => leader.finished, RENEW_DEADLINE_MS + 1_000, 'run() to resolve');
    const stepDown = (leader.stoppedAt ?? Infinity) - revokedAt;
    t.diagnostic(`step-down after renewals started failing: ${Math.round(stepDown)} ms (renew deadline ${RENEW_DEADLINE_MS} ms)`);
    assert.equal(leader.stopped, 1);
    assert.equal(leader.elector.isLeader(), false);
    assert.ok(stepDown >= RENEW_DEADLINE_MS - RETRY_MS - 200 && stepDown <= RENEW_DEADLINE_MS + RETRY_MS, `stepped down after ${stepDown} ms`);
    assert.equal((await rawLease(name)).spec.holderIdentity, leader.identity, 'it could not release either');
  });
});
