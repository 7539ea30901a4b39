// Whether a selected node can be updated by the plan, as ordered checks: the first that fails is the skip reason
// (cert-manager's policy chain). Only for nodes the plan has not started: a started node is never re-checked.
import { releaseMatches } from '../../api/fields';
import { DEVICE_LIMITS, type LiveUpdateNodeStatus } from '../../api/node';
import type { LiveUpdatePlanSpec } from '../../api/plan';
import type { Bdf, DeviceError } from '../../pci/types';
import type { NodeView } from '../model';
import { matchedDevices, matchedUnlisted, preservationErrors } from './devices';

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
  /** The agent could not report every PCI function within its status's bounds. */
  | 'InventoryIncomplete'
  /** More matching endpoints than one claim's spec.preserve may request. */
  | 'TooManyDevices'
  /** A name in selector.nodeNames that is no Node. */
  | 'NodeNotFound';

type OtherDevices = NonNullable<LiveUpdateNodeStatus['otherDevices']>[number];

export type Eligibility = { eligible: true; preserve: Bdf[] } | { eligible: false; reason: SkipReason; message: string };

const skip = (reason: SkipReason, message: string): Eligibility => ({ eligible: false, reason, message: message.slice(0, 512) });

export function eligibility(node: NodeView, spec: LiveUpdatePlanSpec, planUid: string): Eligibility {
  const { record, name } = node;
  const giveBack = `once repaired, kubectl liveupdate release ${name} (or kubectl uncordon ${name}) gives it back`;
  if (record?.claim && record.claim.planUid !== planUid) {
    const failed = record.mark?.planUid === record.claim.planUid && record.mark.phase === 'Failed';
    return skip('ClaimedByOtherPlan', `node ${name} is claimed by plan ${record.claim.planName} (uid ${record.claim.planUid})${failed ? `, which failed it (${record.mark?.reason ?? 'Failed'}) and keeps it for a human: ${giveBack}` : ''}`);
  }
  // A plan that failed a node past the point of no return leaves it cordoned with its mark for a human, claim or not.
  // Once someone uncordoned it, the mark left behind (its plan may be gone) no longer holds it.
  if (node.cordonedBy && node.cordonedBy !== planUid && node.unschedulable)
    return skip('ClaimedByOtherPlan', `node ${name} is cordoned by plan uid ${node.cordonedBy}, which left it for a human: ${giveBack}`);

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

  if (status.inventoryIncomplete) return skip('InventoryIncomplete', `node ${name}: the agent could not report every PCI function: ${status.inventoryIncomplete}`);
  const devices = status.devices ?? [];
  const matched = matchedDevices(spec.devices, devices);
  const unlisted = matchedUnlisted(spec.devices, status.otherDevices ?? []);
  if (matched.length === 0 && unlisted.length === 0) {
    if (spec.devices.onNodesWithoutDevices === 'Skip')
      return skip('NoDevices', `no device on node ${name} matches spec.devices.match (onNodesWithoutDevices: Skip)`);
    return { eligible: true, preserve: [] };
  }
  const errors = preservationErrors(devices, matched);
  if ((errors.length > 0 || unlisted.length > 0) && spec.devices.requirePreservation) return skip('DevicesNotPreservable', `node ${name}: ${notPreservable(errors, unlisted)}`);
  // Without requirePreservation the update goes ahead and keeps what it can.
  const lost = new Set(errors.map((e) => e.bdf));
  const preserve = matched.filter((bdf) => !lost.has(bdf));
  if (preserve.length > DEVICE_LIMITS.preserve)
    return skip('TooManyDevices', `node ${name}: ${preserve.length} matching endpoints, more than one update can preserve (${DEVICE_LIMITS.preserve}); narrow spec.devices.match`);
  return { eligible: true, preserve };
}

/** The first problems, and how many there are: a host with hundreds of devices must still give a readable message. */
function notPreservable(errors: readonly DeviceError[], unlisted: readonly OtherDevices[]): string {
  const parts: string[] = [];
  const count = unlisted.reduce((n, k) => n + k.count, 0);
  if (count > 0) {
    const kinds = unlisted.map((k) => `${k.count} ${k.vendor}:${k.device} (class ${k.class}, ${k.driver ?? 'no driver'})`);
    parts.push(`${count} matching functions are not bound to vfio-pci: ${kinds.slice(0, 3).join(', ')}${kinds.length > 3 ? ', …' : ''}; bind them to vfio-pci or narrow spec.devices.match`);
  }
  if (errors.length > 0) {
    const endpoints = new Set(errors.map((e) => e.bdf)).size;
    parts.push(`${endpoints} matching endpoints cannot be preserved: ${errors.slice(0, 3).map((e) => `${e.bdf}: ${e.message}`).join('; ')}${errors.length > 3 ? '; …' : ''}`);
  }
  return parts.join('; ');
}
