// Whether a selected node can be updated by the plan, as ordered checks: the first that fails is the skip reason
// (cert-manager's policy chain). Only for nodes the plan has not started: a started node is never re-checked.
import { releaseMatches } from '../../api/fields';
import type { LiveUpdatePlanSpec } from '../../api/plan';
import type { Bdf } from '../../pci/types';
import type { NodeView } from '../model';
import { matchedDevices, preservationErrors } from './devices';

export type SkipReason =
  | 'ClaimedByOtherPlan'
  | 'NoAgent'
  /** The agent runs but another process holds /dev/liveupdate (one opener at a time). */
  | 'LuoBusy'
  | 'NoLUO'
  | 'UpToDate'
  | 'IncompatibleKernel'
  | 'NoDevices'
  | 'DevicesNotPreservable'
  /** A name in selector.nodeNames that is no Node. */
  | 'NodeNotFound';

export type Eligibility = { eligible: true; preserve: Bdf[] } | { eligible: false; reason: SkipReason; message: string };

const skip = (reason: SkipReason, message: string): Eligibility => ({ eligible: false, reason, message: message.slice(0, 512) });

export function eligibility(node: NodeView, spec: LiveUpdatePlanSpec, planUid: string): Eligibility {
  const { record, name } = node;
  if (record?.claim && record.claim.planUid !== planUid)
    return skip('ClaimedByOtherPlan', `node ${name} is claimed by plan ${record.claim.planName} (uid ${record.claim.planUid})`);
  // A plan that failed a node past the point of no return leaves it cordoned with its mark for a human, claim or not.
  if (node.cordonedBy && node.cordonedBy !== planUid)
    return skip('ClaimedByOtherPlan', `node ${name} is cordoned by plan uid ${node.cordonedBy}, which left it for a human: uncordon it to release it`);

  const status = record?.status;
  if (!record) return skip('NoAgent', `node ${name} has no LiveUpdateNode: is the agent running there?`);
  if (status?.bootID && !status.luo && status.lastError?.reason === 'LuoBusy')
    return skip('LuoBusy', `the agent on node ${name} cannot open its LUO device: ${status.lastError.message}`);
  if (!status?.bootID || !status.kernelRelease || !status.luo)
    return skip('NoAgent', `the agent on node ${name} has not reported its boot, kernel and LUO support yet`);
  if (node.bootID && node.bootID !== status.bootID)
    return skip('NoAgent', `the agent on node ${name} has not reported since the node booted (boot id ${node.bootID}, last report from ${status.bootID})`);
  if (status.luo.api === 'none') return skip('NoLUO', `kernel ${status.kernelRelease} on node ${name} offers no live update (LUO) interface`);

  const { release } = spec.target.kernel;
  if (status.kernelRelease === release) return skip('UpToDate', `node ${name} already runs ${release}`);
  if (!releaseMatches(status.kernelRelease, spec.target.compatibleFrom))
    return skip('IncompatibleKernel', `node ${name} runs ${status.kernelRelease}, which matches none of compatibleFrom (${spec.target.compatibleFrom.join(', ')})`);

  const devices = status.devices ?? [];
  const matched = matchedDevices(spec.devices, devices);
  if (matched.length === 0) {
    if (spec.devices.onNodesWithoutDevices === 'Skip')
      return skip('NoDevices', `no device on node ${name} matches spec.devices.match (onNodesWithoutDevices: Skip)`);
    return { eligible: true, preserve: [] };
  }
  const errors = preservationErrors(devices, matched);
  if (errors.length > 0 && spec.devices.requirePreservation) {
    const why = errors.map((e) => `${e.bdf}: ${e.message}`).join('; ');
    return skip('DevicesNotPreservable', `node ${name}: ${why}`);
  }
  // Without requirePreservation the update goes ahead and keeps what it can.
  const lost = new Set(errors.map((e) => e.bdf));
  return { eligible: true, preserve: matched.filter((bdf) => !lost.has(bdf)) };
}
