// `release NODE`: gives a node a plan failed (and left cordoned for a human) back to the cluster. Clears the plan's
// claim on its LiveUpdateNode (the failure stays in the mark, marked released) and then the plan's cordon mark on the
// Node, lifting that cordon unless --keep-cordon. A node in the middle of an update is refused: abort its plan instead.
import type { LiveUpdateNode } from '../../api/node';
import { parseCoreNode } from '../../api/parse';
import { patchNode } from '../../kube/core-writes';
import { requestJson } from '../../kube/raw-request';
import { isNotFound, retryOnConflict } from '../../kube/retry';
import { CORDONED_BY_ANNOTATION, ROLLOUT_ANNOTATION, TERMINAL, type RolloutMark } from '../../operator/model';
import { readMark, writeMark } from '../../operator/views';
import { UsageError } from '../usage';
import { withCluster, type KubeFlags, type PluginApi } from './kube';
import { confirmed } from './spec-verbs';

export interface ReleaseOptions extends KubeFlags {
  node: string;
  yes?: boolean;
  keepCordon?: boolean;
}

const say = (text: string) => process.stdout.write(`${text}\n`);

async function coreNode(api: PluginApi, name: string) {
  try {
    return parseCoreNode(await requestJson(api.kc, 'GET', `/api/v1/nodes/${encodeURIComponent(name)}`));
  } catch (err) {
    if (isNotFound(err)) throw new Error(`node "${name}" not found (kubectl get nodes lists them)`, { cause: err });
    throw err;
  }
}

/** The node's LiveUpdateNode; undefined where no agent ever reported. */
async function record(api: PluginApi, name: string): Promise<LiveUpdateNode | undefined> {
  try {
    return await api.records.get(name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** A mark this verb may give back: nothing in flight (the plan still drives that node). */
function refuseInFlight(name: string, mark: RolloutMark | undefined, planName: string): void {
  if (mark && !TERMINAL.has(mark.phase))
    throw new Error(
      `node ${name} is ${mark.phase} for plan ${planName} (attempt ${mark.attempt}): it is being updated, not left for a human; ` +
        `kubectl liveupdate abort ${planName} cancels it before the point of no return`,
    );
}

export async function run(options: ReleaseOptions): Promise<number> {
  const name = options.node;
  return withCluster(options, async (api) => {
    const [node, rec, plans] = await Promise.all([coreNode(api, name), record(api, name), api.plans.list()]);
    const mark = rec ? readMark(rec) : undefined;
    const cordon = node.metadata.annotations?.[CORDONED_BY_ANNOTATION];
    const planName = (uid: string | undefined) => plans.find((p) => p.metadata.uid === uid)?.metadata.name ?? `(deleted plan ${uid})`;
    const held = cordon !== undefined || rec?.spec.planRef !== undefined || (mark?.phase === 'Failed' && !mark.released);
    if (!held) {
      say(`node ${name} is not held by any LiveUpdatePlan (no cordon mark, no claim, no unreleased failure): nothing to release`);
      return 0;
    }
    refuseInFlight(name, mark, planName(mark?.planUid));
    if (!options.yes) {
      if (!process.stdin.isTTY) throw new UsageError(`release ${name}: not confirmed; without a terminal to ask on, pass --yes to release it`);
      const failure = mark?.phase === 'Failed' ? ` failed under plan ${planName(mark.planUid)} (${mark.reason ?? 'Failed'}: ${mark.message ?? ''})` : '';
      const lift = cordon && !options.keepCordon ? ' and uncordoned: pods may be scheduled on it again' : '';
      if (!(await confirmed(`Release node ${name}${failure}? Its claim and cordon mark are cleared${lift}. Only do this once the node is repaired. [y/N] `))) {
        process.stderr.write(`node ${name} not released\n`);
        return 1;
      }
    }
    const done: string[] = [];
    if (rec) {
      // The failure stays on record (the plan keeps counting it and never retries the node); the claim goes.
      await retryOnConflict(async () => {
        const current = await api.records.get(name);
        const now = readMark(current);
        refuseInFlight(name, now, planName(now?.planUid));
        const release = now?.phase === 'Failed' && !now.released ? { [ROLLOUT_ANNOTATION]: writeMark({ ...now, released: { by: api.user, at: new Date().toISOString() } }) } : undefined;
        if (!release && !current.spec.planRef) return;
        const patch = { ...(release ? { metadata: { annotations: release } } : {}), spec: { planRef: null, action: 'None' } };
        await api.records.patch(name, patch, { resourceVersion: current.metadata.resourceVersion });
        done.push(`claim dropped${release ? `, failure (${now?.reason ?? 'Failed'}) kept as released by ${api.user}` : ''}`);
      });
    }
    if (cordon !== undefined) {
      await retryOnConflict(async () => {
        const current = await coreNode(api, name);
        if (current.metadata.annotations?.[CORDONED_BY_ANNOTATION] === undefined) return;
        const patch = { metadata: { annotations: { [CORDONED_BY_ANNOTATION]: null } }, ...(options.keepCordon ? {} : { spec: { unschedulable: false } }) };
        await patchNode(api.kc, name, patch, { resourceVersion: current.metadata.resourceVersion });
        done.push(`cordon mark of plan ${cordon} cleared${options.keepCordon ? ' (the node stays cordoned: kubectl uncordon lifts it)' : ', node uncordoned'}`);
      });
    }
    say(`node ${name} released: ${done.join('; ') || 'nothing left to clear'}`);
    return 0;
  });
}
