// What the generic runtime needs to know about a watched type: where it lives and how to parse it.
import type { KubernetesObject } from '@kubernetes/client-node';

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Any object we cache: parsed, so metadata is typed loosely enough for both CRs and core kinds. */
export interface Resource {
  metadata: ObjectMeta;
}

export interface ResourceKind<T extends Resource> {
  /** '' for the core group. */
  group: string;
  version: string;
  kind: string;
  plural: string;
  /** Throws with the object's name and the offending field path (ApiParseError) when the object is not valid. */
  parse(object: unknown): T;
}

/** The collection URL path, cluster-wide (all namespaces for namespaced kinds). */
export function collectionPath(kind: ResourceKind<Resource>): string {
  return kind.group === '' ? `/api/${kind.version}/${kind.plural}` : `/apis/${kind.group}/${kind.version}/${kind.plural}`;
}

/** The queue key of an object: name, or namespace/name. */
export function objectKey(object: KubernetesObject | Resource): string {
  const { name = '', namespace } = object.metadata ?? {};
  return namespace ? `${namespace}/${name}` : name;
}
