// The chart's RBAC on the real apiserver's authorizer: a SubjectAccessReview matrix for the operator's and the agent's
// service accounts (what the code calls is allowed, nothing more), no wildcards, and the user-facing view and
// plan-writer roles (writing plans aggregated into no built-in role).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AuthorizationV1Api, RbacAuthorizationV1Api, type KubeConfig, type V1PolicyRule, type V1ResourceAttributes } from '@kubernetes/client-node';
import { adminKubeConfig, uniqueName } from '../support/kube';
import { installChart, uninstallChart } from '../support/helm';

type Check = [verb: string, resource: string, extra?: Partial<V1ResourceAttributes>];

const group = (resource: string): { group: string; resource: string; subresource?: string } => {
  const [qualified, subresource] = resource.split('/') as [string, string | undefined];
  const dot = qualified.indexOf('.');
  return { resource: dot < 0 ? qualified : qualified.slice(0, dot), group: dot < 0 ? '' : qualified.slice(dot + 1), ...(subresource ? { subresource } : {}) };
};

describe('chart RBAC (SubjectAccessReview)', () => {
  let kc: KubeConfig;
  let authz: AuthorizationV1Api;
  const release = uniqueName('rbac');
  const namespace = release;
  const fullname = `${release}-liveupdate-operator`;
  const operator = `system:serviceaccount:${namespace}:${fullname}`;
  const agent = `system:serviceaccount:${namespace}:${fullname}-agent`;

  before(async () => {
    kc = adminKubeConfig();
    authz = kc.makeApiClient(AuthorizationV1Api);
    // The suite's control plane already holds the CRDs; everything else comes from the chart but its admission
    // policies, which bind the whole cluster and would refuse other files' plans and agents (admission.test.ts has them).
    await installChart(release, namespace, ['crds.enabled=false', 'admissionPolicy.enabled=false'], process.env.LIVEUPDATE_TEST_KUBECONFIG);
  });
  after(async () => {
    await uninstallChart(release, namespace);
  });

  async function allowed(user: string, [verb, resource, extra]: Check): Promise<boolean> {
    const groups = user.startsWith('system:serviceaccount:') ? ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'] : ['system:authenticated'];
    const review = await authz.createSubjectAccessReview({
      body: { spec: { user, groups, resourceAttributes: { verb, ...group(resource), ...extra } } },
    });
    return review.status?.allowed === true;
  }

  async function expectMatrix(user: string, allow: Check[], deny: Check[]): Promise<void> {
    const wrong: string[] = [];
    for (const check of allow) if (!(await allowed(user, check))) wrong.push(`denied ${JSON.stringify(check)}`);
    for (const check of deny) if (await allowed(user, check)) wrong.push(`allowed ${JSON.stringify(check)}`);
    assert.deepEqual(wrong, [], `${user}:\n${wrong.join('\n')}`);
  }

  const events = (verb: string, ns = 'default'): Check => [verb, 'events.events.k8s.io', { namespace: ns }];

  it('the operator may do what src/operator calls, and nothing else', async () => {
    await expectMatrix(
      operator,
      [
        ['list', 'liveupdateplans.liveupdate.dev'],
        ['watch', 'liveupdateplans.liveupdate.dev'],
        ['patch', 'liveupdateplans.liveupdate.dev'],
        ['patch', 'liveupdateplans.liveupdate.dev/status'],
        ['list', 'liveupdatenodes.liveupdate.dev'],
        ['watch', 'liveupdatenodes.liveupdate.dev'],
        ['patch', 'liveupdatenodes.liveupdate.dev'],
        ['list', 'nodes'],
        ['watch', 'nodes'],
        ['patch', 'nodes'],
        events('create'),
        events('patch'),
        ['create', 'leases.coordination.k8s.io', { namespace }],
        ['get', 'leases.coordination.k8s.io', { namespace, name: fullname }],
        ['update', 'leases.coordination.k8s.io', { namespace, name: fullname }],
      ],
      [
        ['create', 'liveupdateplans.liveupdate.dev'],
        ['delete', 'liveupdateplans.liveupdate.dev'],
        ['update', 'liveupdateplans.liveupdate.dev'],
        ['create', 'liveupdatenodes.liveupdate.dev'],
        ['delete', 'liveupdatenodes.liveupdate.dev'],
        ['patch', 'liveupdatenodes.liveupdate.dev/status'],
        ['delete', 'nodes'],
        ['update', 'nodes'],
        ['create', 'pods/eviction', { namespace: 'default' }],
        ['get', 'secrets', { namespace }],
        ['list', 'secrets'],
        ['get', 'configmaps', { namespace }],
        ['update', 'leases.coordination.k8s.io', { namespace, name: 'another-lease' }],
        ['update', 'leases.coordination.k8s.io', { namespace: 'kube-system', name: fullname }],
        events('create', 'kube-system'),
        ['create', 'pods', { namespace }],
      ],
    );
  });

  it('the agent may watch, create its record and patch its status; never patch Nodes, write a spec or read Secrets', async () => {
    await expectMatrix(
      agent,
      [
        ['list', 'liveupdatenodes.liveupdate.dev'],
        ['watch', 'liveupdatenodes.liveupdate.dev'],
        ['create', 'liveupdatenodes.liveupdate.dev'],
        ['patch', 'liveupdatenodes.liveupdate.dev/status'],
        events('create'),
        events('patch'),
      ],
      [
        ['patch', 'nodes'],
        ['update', 'nodes'],
        ['patch', 'nodes/status'],
        ['patch', 'liveupdatenodes.liveupdate.dev'],
        ['update', 'liveupdatenodes.liveupdate.dev'],
        ['delete', 'liveupdatenodes.liveupdate.dev'],
        ['update', 'liveupdatenodes.liveupdate.dev/status'],
        ['get', 'secrets', { namespace }],
        ['list', 'secrets', { namespace }],
        ['get', 'secrets', { namespace: 'kube-system' }],
        ['list', 'liveupdateplans.liveupdate.dev'],
        ['patch', 'liveupdateplans.liveupdate.dev/status'],
        ['get', 'leases.coordination.k8s.io', { namespace, name: fullname }],
        ['create', 'pods', { namespace }],
      ],
    );
  });

  it('grants no wildcard verb, resource or API group', async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const labelSelector = `app.kubernetes.io/instance=${release}`;
    const clusterRoles = (await rbac.listClusterRole({ labelSelector })).items;
    const roles = [...(await rbac.listNamespacedRole({ namespace, labelSelector })).items, ...(await rbac.listNamespacedRole({ namespace: 'default', labelSelector })).items];
    assert.deepEqual(clusterRoles.map((r) => r.metadata?.name).sort(), [fullname, `${fullname}-agent`, `${fullname}-plan-writer`, `${fullname}-view`]);
    assert.deepEqual(roles.map((r) => r.metadata?.name).sort(), [`${fullname}-events`, `${fullname}-leader-election`]);
    const rules: V1PolicyRule[] = [...clusterRoles, ...roles].flatMap((r) => r.rules ?? []);
    for (const rule of rules) {
      for (const field of [rule.verbs, rule.resources ?? [], rule.apiGroups ?? []]) assert.ok(!field.some((v) => v.includes('*')), JSON.stringify(rule));
    }
  });

  it('aggregates reading into view, and writing plans into no built-in role: plan writers are their own role (issue 18 item 19)', async () => {
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const aggregated = (await rbac.listClusterRole({ labelSelector: `app.kubernetes.io/instance=${release}` })).items.filter((r) =>
      ['view', 'edit', 'admin'].some((role) => r.metadata?.labels?.[`rbac.authorization.k8s.io/aggregate-to-${role}`] === 'true'),
    );
    assert.deepEqual(aggregated.map((r) => r.metadata?.name), [`${fullname}-view`]);
    const writes = ['create', 'update', 'patch', 'delete', 'deletecollection'];
    for (const role of aggregated)
      for (const rule of role.rules ?? []) assert.ok(!rule.verbs.some((v) => writes.includes(v)), `${role.metadata?.name} aggregates a write: ${JSON.stringify(rule)}`);
    // No controller-manager aggregates here, so bind the chart's roles to users directly.
    const viewer = `viewer-${release}`;
    const writer = `writer-${release}`;
    for (const [user, role] of [
      [viewer, 'view'],
      [writer, 'plan-writer'],
    ] as const) {
      await rbac.createClusterRoleBinding({
        body: {
          metadata: { name: `${user}-${role}`, labels: { 'app.kubernetes.io/instance': `${release}-test` } },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${fullname}-${role}` },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
        },
      });
    }
    try {
      await expectMatrix(
        viewer,
        [
          ['get', 'liveupdateplans.liveupdate.dev'],
          ['list', 'liveupdatenodes.liveupdate.dev'],
        ],
        [
          ['patch', 'liveupdateplans.liveupdate.dev'],
          ['create', 'liveupdateplans.liveupdate.dev'],
        ],
      );
      await expectMatrix(
        writer,
        [
          ['create', 'liveupdateplans.liveupdate.dev'],
          ['patch', 'liveupdateplans.liveupdate.dev'],
          ['delete', 'liveupdateplans.liveupdate.dev'],
          ['watch', 'liveupdateplans.liveupdate.dev'],
        ],
        [
          ['patch', 'liveupdateplans.liveupdate.dev/status'],
          ['patch', 'liveupdatenodes.liveupdate.dev'],
          ['patch', 'liveupdatenodes.liveupdate.dev/status'],
        ],
      );
    } finally {
      await rbac.deleteCollectionClusterRoleBinding({ labelSelector: `app.kubernetes.io/instance=${release}-test` });
    }
  });
});
