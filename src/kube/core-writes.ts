// Writes to core objects the operator owns a part of. JSON merge patch with an explicit content type: client-node's
// default is JSON Patch, and merge patch on a Node needs no knowledge of its current fields.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import { withResourceVersion, type PatchOptions } from './cluster-resource';
import { withTransientRetry } from './retry';
import { apiClient } from './connections';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Merge-patches a Node (e.g. the cordon mark annotation and `spec.unschedulable`), retrying transient failures. */
export async function patchNode(kc: KubeConfig, name: string, patch: object, options: PatchOptions = {}): Promise<V1Node> {
  const api = apiClient(kc, CoreV1Api);
  const body = withResourceVersion(patch, options.resourceVersion);
  return withTransientRetry(() => api.patchNode({ name, body }, mergePatch));
}
