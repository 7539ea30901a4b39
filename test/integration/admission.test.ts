// The chart's ValidatingAdmissionPolicy with real service-account tokens: a TokenRequest bound to a Pod on node A
// makes the apiserver itself put `authentication.kubernetes.io/node-name: A` into the token (no impersonation), and
// the policy lets that agent write only LiveUpdateNode A — created with an empty spec, then status only. The plan
// policy lets a plan add only the kernel parameters the chart allows.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiException, AuthenticationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../src/api/fields';
import { nodeResource, planResource, type ClusterResource } from '../../src/kube/cluster-resource';
import type { LiveUpdateNode } from '../../src/api/node';
import { LocalControlPlane } from '../../src/envtest/control-plane';
import { uniqueName } from '../support/kube';
import { installChart, uninstallChart } from '../support/helm';
import { validPlan } from '../support/plans';
import { waitFor } from '../support/wait';

const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

/** The apiserver's 403 message, or a failure if the request succeeded or failed otherwise. */
async function forbidden(request: Promise<unknown>): Promise<string> {
  try {
    await request;
  } catch (err) {
    if (err instanceof ApiException && err.code === 403) return (JSON.parse(String(err.body)) as { message: string }).message;
    throw err;
  }
  assert.fail('the apiserver allowed it');
}

/**
 * The file's own control plane: the chart's plan policy binds every plan writer of the cluster, so on the suite's
 * shared apiserver it refused other files' plans (a random plan of api.test.ts appending `d__`, while both ran).
 */
const cluster = {
  plane: undefined as LocalControlPlane | undefined,
  dir: '',
  kubeconfig: '',
  admin(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfig);
    return kc;
  },
};
before(async () => {
  cluster.plane = await LocalControlPlane.start({ crdDir: path.resolve(__dirname, '../../crds') });
  cluster.dir = await mkdtemp(path.join(os.tmpdir(), 'admission-'));
  cluster.kubeconfig = path.join(cluster.dir, 'admin.kubeconfig');
  await writeFile(cluster.kubeconfig, cluster.plane.kubeconfig());
});
after(async () => {
  await cluster.plane?.stop();
  await rm(cluster.dir, { recursive: true, force: true });
});

describe('agent admission policy (real bound service-account tokens)', () => {
  const release = uniqueName('vap');
  const namespace = release;
  const fullname = `${release}-liveupdate-operator`;
  const policy = `${fullname}-agent-own-node`;
  const agentAccount = `${fullname}-agent`;
  const [nodeA, nodeB, nodeC] = [uniqueName('vap-node-a'), uniqueName('vap-node-b'), uniqueName('vap-node-c')];
  let admin: KubeConfig;
  let core: CoreV1Api;
  let adminRecords: ClusterResource<LiveUpdateNode>;

  const record = (name: string, spec: object = {}) => ({ apiVersion: 'liveupdate.dev/v1alpha1', kind: 'LiveUpdateNode', metadata: { name }, spec });

  /** A token for the agent's service account, bound to a pod of the agent's on `node` (or to nothing). */
  async function agentOn(node: string | undefined): Promise<KubeConfig> {
    let boundObjectRef;
    if (node) {
      const pod = await core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: `agent-${node}` },
          spec: { serviceAccountName: agentAccount, nodeName: node, containers: [{ name: 'agent', image: 'ghcr.io/liveupdate-dev/liveupdate-operator:test' }] },
        },
      });
      boundObjectRef = { kind: 'Pod', apiVersion: 'v1', name: pod.metadata!.name!, uid: pod.metadata!.uid! };
    }
    const request = await core.createNamespacedServiceAccountToken({ name: agentAccount, namespace, body: { spec: { audiences: [], expirationSeconds: 3600, boundObjectRef } } });
    const cluster = admin.getCurrentCluster()!;
    const kc = new KubeConfig();
    const user = `agent-${node ?? 'unbound'}`;
    kc.loadFromOptions({ clusters: [cluster], users: [{ name: user, token: request.status!.token }], contexts: [{ name: user, cluster: cluster.name, user }], currentContext: user });
    return kc;
  }

  before(async () => {
    admin = cluster.admin();
    core = admin.makeApiClient(CoreV1Api);
    adminRecords = nodeResource(admin);
    await installChart(release, namespace, ['crds.enabled=false'], cluster.kubeconfig);
    // The token's node info names a Node the apiserver can read.
    for (const name of [nodeA, nodeB]) await core.createNode({ body: { metadata: { name } } });
    // B's and C's records exist (as if their own agents had made them): the policy must refuse before the store would.
    for (const name of [nodeB, nodeC]) await adminRecords.create(record(name));
  });
  // Its plan policy binds every plan writer: gone before the plan policy's own tests below.
  after(() => uninstallChart(release, namespace, cluster.kubeconfig));

  it('lets agent A create and report on LiveUpdateNode A only, with an empty spec and status writes only', async () => {
    const agentA = await agentOn(nodeA);
    const who = await agentA.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    assert.equal(who.status?.userInfo?.username, `system:serviceaccount:${namespace}:${agentAccount}`);
    assert.deepEqual(who.status?.userInfo?.extra?.[NODE_NAME_EXTRA], [nodeA], 'the apiserver put the pod\'s node into the token');

    const records = nodeResource(agentA);
    // The policy is in force once the apiserver's admission has loaded it: probe with a dry-run create of B.
    const objects = agentA.makeApiClient(CustomObjectsApi);
    const denial = await waitFor(
      'the admission policy to be in force',
      () =>
        objects.createClusterCustomObject({ group: GROUP, version: VERSION, plural: 'liveupdatenodes', body: record(nodeB), dryRun: 'All' }).then(
          () => undefined,
          (err: unknown) => {
            // Ours, not another release's policy still loaded by the apiserver's admission.
            if (err instanceof ApiException && err.code === 403) return String(err.body).includes(`ValidatingAdmissionPolicy '${policy}'`) ? String(err.body) : undefined;
            throw err;
          },
        ),
      15_000,
    );
    assert.match(denial, new RegExp(`ValidatingAdmissionPolicy '${policy}'`));

    const spec = { planRef: { name: 'p', uid: 'u' }, attempt: 1, action: 'Cancel' };
    assert.match(await forbidden(records.create(record(nodeA, spec))), /creates its LiveUpdateNode with an empty spec/);

    const created = await records.create(record(nodeA));
    assert.equal(created.metadata.name, nodeA);
    const reported = await records.patchStatus(nodeA, { status: { phase: 'Idle' } });
    assert.equal(reported.status?.phase, 'Idle');

    assert.match(await forbidden(records.create(record(nodeB))), new RegExp(`agent of node ${nodeA} may only write LiveUpdateNode ${nodeA}, not ${nodeB}`));
    assert.match(await forbidden(records.patchStatus(nodeB, { status: { phase: 'Failed' } })), new RegExp(`may only write LiveUpdateNode ${nodeA}, not ${nodeB}`));
    // The spec is the operator's: RBAC already refuses the agent any write outside /status.
    assert.match(await forbidden(records.patch(nodeA, { spec: { action: 'Execute' } })), /cannot patch resource "liveupdatenodes"/);
    assert.equal((await adminRecords.get(nodeB)).status?.phase, undefined);
  });

  it('lets agent B report on its own record and refuses a token bound to no pod', async () => {
    const agentB = nodeResource(await agentOn(nodeB));
    assert.equal((await agentB.patchStatus(nodeB, { status: { phase: 'Idle' } })).status?.phase, 'Idle');
    assert.match(await forbidden(agentB.patchStatus(nodeC, { status: { phase: 'Failed' } })), new RegExp(`agent of node ${nodeB} may only write LiveUpdateNode ${nodeB}, not ${nodeC}`));

    const unbound = nodeResource(await agentOn(undefined));
    assert.match(await forbidden(unbound.patchStatus(nodeB, { status: { phase: 'Failed' } })), /the agent's token names no node/);
  });
});

describe('plan command-line admission policy (issue 18 item 19)', () => {
  const release = uniqueName('vap-plan');
  const policy = `${release}-liveupdate-operator-plan-cmdline`;
  let objects: CustomObjectsApi;
  let plans: ReturnType<typeof planResource>;

  const plan = (append: string[]) => {
    const body = validPlan(uniqueName('cmdline')) as { metadata: { name: string }; spec: { target: { kernel: Record<string, unknown> } } };
    body.spec.target.kernel.cmdline = { append };
    return body;
  };

  before(async () => {
    const admin = cluster.admin();
    objects = admin.makeApiClient(CustomObjectsApi);
    plans = planResource(admin);
    await installChart(release, release, ['crds.enabled=false', 'agent.enabled=false', 'admissionPolicy.cmdlineAppendAllowed={liveupdate,quiet}'], cluster.kubeconfig);
  });

  it('refuses init= and lockdown= on create and update, from anyone, and admits the allowed parameters', async () => {
    // In force once the apiserver's admission has loaded it: probe with a dry-run create.
    const denial = await waitFor(
      'the plan admission policy to be in force',
      () =>
        objects.createClusterCustomObject({ group: GROUP, version: VERSION, plural: 'liveupdateplans', body: plan(['init=/bin/sh']), dryRun: 'All' }).then(
          () => undefined,
          (err: unknown) => {
            // Ours, not another release's policy still loaded by the apiserver's admission.
            if (err instanceof ApiException && err.code === 403) return String(err.body).includes(`ValidatingAdmissionPolicy '${policy}'`) ? String(err.body) : undefined;
            throw err;
          },
        ),
      15_000,
    );
    assert.match(denial, new RegExp(`ValidatingAdmissionPolicy '${policy}'`));
    assert.match(denial, /spec\.target\.kernel\.cmdline\.append: init=\/bin\/sh not allowed; a plan may add only liveupdate, quiet \(the chart value admissionPolicy\.cmdlineAppendAllowed\)/);

    const created = await plans.create(plan(['liveupdate=on', 'quiet']));
    const name = created.metadata.name ?? '';
    const cmdline = (append: string[]) => ({ spec: { target: { kernel: { cmdline: { append } } } } });
    assert.match(await forbidden(plans.patch(name, cmdline(['liveupdate=on', 'quiet', 'lockdown=none']))), /append: lockdown=none not allowed/);
    // A name is matched before its '=': `liveupdate.x` or `quietly` is another parameter.
    assert.match(await forbidden(plans.patch(name, cmdline(['quietly', 'liveupdate.x=1']))), /append: quietly, liveupdate\.x=1 not allowed/);
    // Edits that add nothing pass (pause, approve…), and so does dropping a parameter.
    assert.equal((await plans.patch(name, { metadata: { labels: { touched: 'yes' } } })).metadata.labels?.touched, 'yes');
    assert.deepEqual((await plans.patch(name, cmdline(['quiet']))).spec.target.kernel.cmdline.append, ['quiet']);
  });
});
