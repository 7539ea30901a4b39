import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { ApiException, ApiextensionsV1Api, KubeConfig, loadAllYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { ControlPlaneError, httpGet, kubeconfigFor, type Endpoint } from './endpoint';
import { apiClient } from '../kube/connections';

/** Creates (or replaces) every CRD in dir and waits until each is Established and its resource is served. */
export async function installCrds(admin: Endpoint, dir: string, timeoutMs: number, log: (m: string) => void): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigFor(admin, 'installer'));
  const api = apiClient(kc, ApiextensionsV1Api);
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const crds: V1CustomResourceDefinition[] = [];
  for (const file of files) {
    for (const doc of loadAllYaml(await readFile(path.join(dir, file), 'utf8')) as V1CustomResourceDefinition[]) {
      if (doc?.kind !== 'CustomResourceDefinition') continue;
      await api.createCustomResourceDefinition({ body: doc }).catch((err: unknown) => {
        const detail = err instanceof ApiException ? (JSON.parse(String(err.body)) as { message?: string }).message : String(err);
        throw new ControlPlaneError(`the apiserver rejected ${file}: ${detail}`);
      });
      crds.push(doc);
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    const version = crd.spec.versions.find((v) => v.served)?.name;
    const url = `${admin.server}/apis/${crd.spec.group}/${version}/${crd.spec.names.plural}`;
    for (;;) {
      const current = await api.readCustomResourceDefinition({ name });
      const established = current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      if (established && (await httpGet(url, { ca: admin.caData, token: admin.token })).status === 200) break;
      if (Date.now() > deadline) throw new ControlPlaneError(`CRD ${name} not established and served within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
    log(`CRD ${name} established`);
  }
}
