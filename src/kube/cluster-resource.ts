// Typed access to our cluster-scoped custom resources. Patches are JSON merge patches, set explicitly:
// client-node defaults to JSON Patch, and custom resources reject strategic merge.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/fields';
import { parseNode, parsePlan } from '../api/parse';
import type { LiveUpdateNode } from '../api/node';
import type { LiveUpdatePlan } from '../api/plan';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class ClusterResource<T> {
  private readonly api: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    readonly plural: string,
    private readonly parse: (object: unknown) => T,
  ) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  private get kind() {
    return { group: GROUP, version: VERSION, plural: this.plural };
  }

  /** Creates from an unchecked body: the apiserver validates it (that is the point for user input). */
  async create(body: object): Promise<T> {
    return this.parse(await this.api.createClusterCustomObject({ ...this.kind, body }));
  }

  async get(name: string): Promise<T> {
    return this.parse(await this.api.getClusterCustomObject({ ...this.kind, name }));
  }

  async list(): Promise<T[]> {
    const list = (await this.api.listClusterCustomObject(this.kind)) as { items: unknown[] };
    return list.items.map(this.parse);
  }

  async patch(name: string, patch: object): Promise<T> {
    return this.parse(await this.api.patchClusterCustomObject({ ...this.kind, name, body: patch }, mergePatch));
  }

  async patchStatus(name: string, patch: object): Promise<T> {
    return this.parse(await this.api.patchClusterCustomObjectStatus({ ...this.kind, name, body: patch }, mergePatch));
  }

  async delete(name: string): Promise<void> {
    await this.api.deleteClusterCustomObject({ ...this.kind, name });
  }
}

export const planResource = (kc: KubeConfig) => new ClusterResource<LiveUpdatePlan>(kc, 'liveupdateplans', parsePlan);
export const nodeResource = (kc: KubeConfig) => new ClusterResource<LiveUpdateNode>(kc, 'liveupdatenodes', parseNode);
