// Typed access to our cluster-scoped custom resources. Patches are JSON merge patches or server-side apply, with the
// content type set explicitly: client-node defaults to JSON Patch, and custom resources reject strategic merge.
// Every write retries transient failures (5xx, 429, timeouts, connection resets); other errors reach the caller.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/fields';
import { parseNode, parsePlan } from '../api/parse';
import type { LiveUpdateNode } from '../api/node';
import type { LiveUpdatePlan } from '../api/plan';
import { isNotFound, withTransientRetry } from './retry';
import { apiClient } from './connections';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const applyPatch = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

export interface PatchOptions {
  /** Optimistic lock: the apiserver answers 409 Conflict if the object changed since this version was read. */
  resourceVersion?: string;
}

export interface ApplyOptions {
  fieldManager: string;
  /** Take over fields another manager owns instead of failing with 409. */
  force?: boolean;
}

/** Adds `metadata.resourceVersion` to a merge patch: the precondition for optimistic concurrency. */
export function withResourceVersion(patch: object, resourceVersion: string | undefined): object {
  if (resourceVersion === undefined) return patch;
  const metadata = (patch as { metadata?: object }).metadata;
  return { ...patch, metadata: { ...metadata, resourceVersion } };
}

export class ClusterResource<T> {
  private readonly api: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    readonly plural: string,
    private readonly parse: (object: unknown) => T,
  ) {
    this.api = apiClient(kc, CustomObjectsApi);
  }

  private get kind() {
    return { group: GROUP, version: VERSION, plural: this.plural };
  }

  /**
   * Creates from an unchecked body: the apiserver validates it (that is the point for user input). A retry after a
   * lost response can meet the object the first try created: that surfaces as 409 AlreadyExists.
   */
  async create(body: object): Promise<T> {
    return this.parse(await withTransientRetry(() => this.api.createClusterCustomObject({ ...this.kind, body })));
  }

  async get(name: string): Promise<T> {
    return this.parse(await this.api.getClusterCustomObject({ ...this.kind, name }));
  }

  async list(): Promise<T[]> {
    const list = (await this.api.listClusterCustomObject(this.kind)) as { items: unknown[] };
    return list.items.map(this.parse);
  }

  async patch(name: string, patch: object, options: PatchOptions = {}): Promise<T> {
    const body = withResourceVersion(patch, options.resourceVersion);
    return this.parse(await withTransientRetry(() => this.api.patchClusterCustomObject({ ...this.kind, name, body }, mergePatch)));
  }

  async patchStatus(name: string, patch: object, options: PatchOptions = {}): Promise<T> {
    const body = withResourceVersion(patch, options.resourceVersion);
    return this.parse(await withTransientRetry(() => this.api.patchClusterCustomObjectStatus({ ...this.kind, name, body }, mergePatch)));
  }

  /**
   * Server-side apply of a partial object (apiVersion, kind, metadata.name and the fields this manager owns): creates
   * the object if missing; fields the manager applied before and leaves out now are removed.
   */
  async apply(body: { metadata: { name: string } }, options: ApplyOptions): Promise<T> {
    const { fieldManager, force } = options;
    const request = { ...this.kind, name: body.metadata.name, body, fieldManager, force };
    return this.parse(await withTransientRetry(() => this.api.patchClusterCustomObject(request, applyPatch)));
  }

  async delete(name: string): Promise<void> {
    let attempt = 0;
    await withTransientRetry(async () => {
      attempt++;
      try {
        await this.api.deleteClusterCustomObject({ ...this.kind, name });
      } catch (err) {
        // A retry that finds nothing: the earlier try deleted it and only its response was lost.
        if (!(attempt > 1 && isNotFound(err))) throw err;
      }
    });
  }
}

export const planResource = (kc: KubeConfig) => new ClusterResource<LiveUpdatePlan>(kc, 'liveupdateplans', parsePlan);
export const nodeResource = (kc: KubeConfig) => new ClusterResource<LiveUpdateNode>(kc, 'liveupdatenodes', parseNode);
