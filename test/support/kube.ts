// What integration tests need from the shared control plane that test/run.ts started.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

export function adminKubeConfig(): KubeConfig {
  const file = process.env.LIVEUPDATE_TEST_KUBECONFIG;
  if (!file) throw new Error('LIVEUPDATE_TEST_KUBECONFIG is not set: run integration tests through `npm run test:integration`');
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

/** A DNS-1123 name unique to this test, so tests sharing one control plane never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** A service account in `namespace` and a KubeConfig that authenticates as it (a non-admin identity for RBAC tests). */
export async function serviceAccountKubeConfig(admin: KubeConfig, namespace: string, name: string): Promise<KubeConfig> {
  const core = admin.makeApiClient(CoreV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  const request = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('admin kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name, token: request.status?.token }],
    contexts: [{ name, cluster: cluster.name, user: name }],
    currentContext: name,
  });
  return kc;
}
