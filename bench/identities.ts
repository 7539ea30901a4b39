// Benchmarks give the operator and the agents identities of their own, so the audit log says who wrote what.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RbacAuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { serviceAccountKubeConfig } from '../test/support/kube';

export interface BenchIdentity {
  kc: KubeConfig;
  /** A kubeconfig file for child processes. */
  file: string;
  /** The audit log's user.username. */
  user: string;
}

/** A service account in `default` bound to cluster-admin: a bench needs its own name in the audit log, not least privilege. */
export async function benchIdentity(admin: KubeConfig, dir: string, account: string): Promise<BenchIdentity> {
  const kc = await serviceAccountKubeConfig(admin, 'default', account);
  await admin.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
    body: {
      metadata: { name: account },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: account, namespace: 'default' }],
    },
  });
  const file = path.join(dir, `${account}.kubeconfig`);
  await writeFile(file, kc.exportConfig());
  return { kc, file, user: `system:serviceaccount:default:${account}` };
}
