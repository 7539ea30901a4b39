// Smoke suite: proves the harness gives a real kube-apiserver + etcd, not a stand-in.
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ApiException,
  ApisApi,
  CoreV1Api,
  RbacAuthorizationV1Api,
  VersionApi,
  Watch,
  loadAllYaml,
  type KubeConfig,
  type V1ConfigMap,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { adminKubeConfig, serviceAccountKubeConfig, uniqueName } from '../support/kube';

describe('local control plane', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let namespace: string;

  before(async () => {
    kc = adminKubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    namespace = uniqueName('smoke');
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => {
    await core.deleteNamespace({ name: namespace });
  });

  it('reports the real Kubernetes version it was built from', async () => {
    const version = await kc.makeApiClient(VersionApi).getCode();
    assert.equal(version.gitVersion, 'v1.36.2');
    assert.equal(version.minor, '36');
  });

  it('creates, gets, lists and watches an object', async () => {
    const name = uniqueName('cm');
    const seen: string[] = [];
    let resolveAdded!: () => void;
    const added = new Promise<void>((r) => (resolveAdded = r));
    const watch = await new Watch(kc).watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      {},
      (type, obj: V1ConfigMap) => {
        seen.push(`${type}:${obj.metadata?.name}`);
        if (type === 'ADDED' && obj.metadata?.name === name) resolveAdded();
      },
      () => undefined,
    );
    try {
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data: { kernel: '6.19.0' } } });
      const got = await core.readNamespacedConfigMap({ namespace, name });
      assert.equal(got.data?.kernel, '6.19.0');
      const list = await core.listNamespacedConfigMap({ namespace });
      assert.ok(list.items.some((cm) => cm.metadata?.name === name));
      await added;
      assert.ok(seen.includes(`ADDED:${name}`));
    } finally {
      watch.abort();
    }
  });

  it('rejects an update carrying a stale resourceVersion with 409 Conflict', async () => {
    const name = uniqueName('cm');
    const created = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data: { v: '1' } } });
    await core.replaceNamespacedConfigMap({ namespace, name, body: { ...created, data: { v: '2' } } });
    await assert.rejects(
      core.replaceNamespacedConfigMap({ namespace, name, body: { ...created, data: { v: '3' } } }),
      (err: unknown) => err instanceof ApiException && err.code === 409,
    );
  });

  it('denies a non-admin identity by RBAC until a role grants it', async () => {
    const user = await serviceAccountKubeConfig(kc, namespace, uniqueName('sa'));
    const asUser = user.makeApiClient(CoreV1Api);
    await assert.rejects(
      asUser.listNamespacedConfigMap({ namespace }),
      (err: unknown) => err instanceof ApiException && err.code === 403,
    );
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const role = uniqueName('cm-reader');
    await rbac.createNamespacedRole({
      namespace,
      body: { metadata: { name: role }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }] },
    });
    const subject = user.getCurrentUser()?.name ?? '';
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
        subjects: [{ kind: 'ServiceAccount', name: subject, namespace }],
      },
    });
    const list = await asUser.listNamespacedConfigMap({ namespace });
    assert.ok(Array.isArray(list.items));
  });

  it('serves every CRD in crds/ that the harness installed', async () => {
    const dir = path.resolve(__dirname, '../../crds');
    const crds: V1CustomResourceDefinition[] = [];
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml'))) {
      crds.push(...(loadAllYaml(await readFile(path.join(dir, file), 'utf8')) as V1CustomResourceDefinition[]));
    }
    assert.ok(crds.length > 0, 'crds/ holds no CRD');
    const groups = await kc.makeApiClient(ApisApi).getAPIVersions();
    for (const crd of crds) {
      assert.ok(
        groups.groups.some((g) => g.name === crd.spec.group),
        `group ${crd.spec.group} of ${crd.metadata?.name} is not served`,
      );
    }
  });
});
