// The plugin's access to the cluster: kubeconfig and context as kubectl picks them, reads of plans, LiveUpdateNodes
// and Nodes, and merge-patch writes of a plan's spec. Errors name the plan and say what to do.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { parseCoreNode } from '../../api/parse';
import type { CoreNode } from '../../api/core-node';
import type { LiveUpdateNode } from '../../api/node';
import type { LiveUpdatePlan } from '../../api/plan';
import { nodeResource, planResource, type ClusterResource } from '../../kube/cluster-resource';
import { requestJson } from '../../kube/raw-request';
import { httpStatus, isNotFound, isTransient, retryOnConflict } from '../../kube/retry';

export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
}

/** KUBECONFIG or ~/.kube/config (or in-cluster), unless --kubeconfig names a file; then --context if given. */
export function loadKubeConfig(flags: KubeFlags): KubeConfig {
  const kc = new KubeConfig();
  if (flags.kubeconfig) {
    try {
      kc.loadFromFile(flags.kubeconfig);
    } catch (err) {
      throw new Error(`--kubeconfig ${flags.kubeconfig}: ${(err as Error).message}`, { cause: err });
    }
  } else {
    // client-node would otherwise fall back to http://localhost:8080 and fail with a puzzling message.
    const found = process.env.KUBECONFIG || existsSync(path.join(os.homedir(), '.kube', 'config')) || process.env.KUBERNETES_SERVICE_HOST;
    if (!found) throw new Error('no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config');
    kc.loadFromDefault();
  }
  if (flags.context !== undefined) {
    if (!kc.getContextObject(flags.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new Error(`context "${flags.context}" is not in the kubeconfig; its contexts: ${known.join(', ') || '(none)'}`);
    }
    kc.setCurrentContext(flags.context);
  }
  return kc;
}

/** What the apiserver said when it refused a write: each field path with its message (CEL rules included). */
export function refusal(err: unknown): string {
  const body: unknown = err instanceof ApiException ? err.body : undefined;
  try {
    const status = JSON.parse(String(body)) as { message?: string; details?: { causes?: { field?: string; message?: string }[] } };
    const causes = (status.details?.causes ?? []).map((c) => (c.field ? `${c.field}: ${c.message ?? ''}` : (c.message ?? '')));
    return causes.length > 0 ? causes.join('; ') : (status.message ?? String(body));
  } catch {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The messages of an error and its causes: "fetch failed: connect ECONNREFUSED 127.0.0.1:6443". */
function messages(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error && parts.length < 5; e = e.cause) parts.push(e.message);
  return parts.join(': ');
}

/**
 * Runs a verb against the cluster; a request that got no HTTP answer at all comes back as an error naming the
 * apiserver and the context it came from, so a wrong kubeconfig or context is easy to spot.
 */
export async function withCluster(flags: KubeFlags, verb: (api: PluginApi) => Promise<number>): Promise<number> {
  const kc = loadKubeConfig(flags);
  try {
    return await verb(new PluginApi(kc));
  } catch (err) {
    const unanswered = httpStatus(err) === undefined && (isTransient(err) || (err instanceof Error && err.message === 'fetch failed'));
    if (!unanswered) throw err;
    throw new Error(`cannot reach the apiserver ${kc.getCurrentCluster()?.server ?? '(none)'} of context "${kc.getCurrentContext()}": ${messages(err)}`, { cause: err });
  }
}

export class PluginApi {
  readonly plans: ClusterResource<LiveUpdatePlan>;
  readonly records: ClusterResource<LiveUpdateNode>;

  constructor(readonly kc: KubeConfig) {
    this.plans = planResource(kc);
    this.records = nodeResource(kc);
  }

  /** Who approves: the kubeconfig's user (the apiserver's audit log has the authenticated identity). */
  get user(): string {
    return this.kc.getCurrentUser()?.name || 'kubectl-liveupdate';
  }

  async plan(name: string): Promise<LiveUpdatePlan> {
    try {
      return await this.plans.get(name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      throw new Error(await this.notFound(name), { cause: err });
    }
  }

  /** "plan X not found" with the plans that do exist, so a typo is easy to fix. */
  private async notFound(name: string): Promise<string> {
    const names = await this.plans.list().then(
      (plans) => plans.map((p) => p.metadata.name ?? '').sort(),
      () => undefined,
    );
    const known = names === undefined ? '' : names.length === 0 ? '; there are no LiveUpdatePlans' : `; plans: ${names.join(', ')}`;
    return `plan "${name}" not found${known} (kubectl get lup lists them)`;
  }

  /**
   * The Nodes a plan's selector may pick, for its pending rows. Undefined when this user may not list Nodes: the
   * status then counts pending nodes without naming them.
   */
  async coreNodes(): Promise<CoreNode[] | undefined> {
    try {
      const list = (await requestJson(this.kc, 'GET', '/api/v1/nodes')) as { items: unknown[] };
      return list.items.map(parseCoreNode);
    } catch (err) {
      if (httpStatus(err) === 403) return undefined;
      throw err;
    }
  }

  /**
   * Merge patch of the plan's spec (undefined: nothing to write) computed from the plan as just read, under its resourceVersion (a concurrent
   * writer makes it read and compute again). The apiserver's refusals (CEL rules) come back naming the field.
   */
  async patchSpec(name: string, change: (plan: LiveUpdatePlan) => object | undefined): Promise<LiveUpdatePlan> {
    return retryOnConflict(async () => {
      const plan = await this.plan(name);
      const spec = change(plan);
      if (!spec) return plan;
      try {
        return await this.plans.patch(name, { spec }, { resourceVersion: plan.metadata.resourceVersion });
      } catch (err) {
        if (httpStatus(err) === 422) throw new Error(`plan "${name}": the apiserver refused the change: ${refusal(err)}`, { cause: err });
        throw err;
      }
    });
  }
}
