// API objects as the demo reads them: a plan with status and node records carrying the operator's mark.
import { parseNode, parsePlan } from '../../../src/api/parse';
import type { LiveUpdateNodeStatus } from '../../../src/api/node';
import type { LiveUpdatePlanStatus } from '../../../src/api/plan';
import { demoPlan } from '../../../src/demo/plan';
import { ROLLOUT_ANNOTATION, type RolloutMark } from '../../../src/operator/model';
import { writeMark } from '../../../src/operator/views';

export const UID = 'uid-demo';
export const KERNELS = { '6.19.4-lu2': { image: '/var/lib/demo/images/vmlinuz-6.19.4-lu2', sha256: 'a'.repeat(64) } };
export const T0 = '2026-11-30T10:00:00.000Z';

export function plan(nodes: string[], status?: LiveUpdatePlanStatus, approvals: object[] = []) {
  const body = demoPlan(nodes, KERNELS) as { metadata: object; spec: object };
  return parsePlan({ ...body, metadata: { ...body.metadata, uid: UID, resourceVersion: '5' }, spec: { ...body.spec, approvals }, ...(status ? { status } : {}) });
}

export function record(name: string, status: Partial<LiveUpdateNodeStatus> | undefined, mark?: Partial<RolloutMark>) {
  const annotations = mark ? { [ROLLOUT_ANNOTATION]: writeMark({ planUid: UID, attempt: 1, phase: 'Preparing', since: T0, ...mark }) } : {};
  return parseNode({
    apiVersion: 'liveupdate.dev/v1alpha1',
    kind: 'LiveUpdateNode',
    metadata: { name, annotations },
    spec: {},
    ...(status ? { status } : {}),
  });
}

/** An agent's report for the demo plan's attempt 1, on a node with two endpoints under one bridge. */
export function report(extra: Partial<LiveUpdateNodeStatus> = {}): Partial<LiveUpdateNodeStatus> {
  return {
    bootID: 'b1',
    kernelRelease: '6.19.0-sim',
    luo: { api: 'mainline' },
    observedPlanUID: UID,
    observedAttempt: 1,
    preservation: [
      { bdf: '0000:04:01.0', flags: ['busmaster-bridge'] },
      { bdf: '0000:05:00.1', flags: ['busmaster'] },
      { bdf: '0000:05:00.2', flags: ['busmaster'] },
    ],
    ...extra,
  };
}
