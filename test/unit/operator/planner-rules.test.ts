import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveBudgets, scaled } from '../../../src/operator/planner/counts';
import { matchedDevices } from '../../../src/operator/planner/devices';
import { eligibility } from '../../../src/operator/planner/eligibility';
import { orderNodes } from '../../../src/operator/planner/order';
import { labelSelectorMatches, selects } from '../../../src/operator/planner/selector';
import { stepState } from '../../../src/operator/planner/steps';
import { agentStatus, bridge, gpu, makeNode, makePlan, PLAN_UID, TARGET, ZONE } from '../../support/fleet-arbitrary';

describe('label selector', () => {
  const labels = { role: 'hypervisor', zone: 'a' };
  const cases: [string, Parameters<typeof labelSelectorMatches>[0], boolean][] = [
    ['{} selects everything', {}, true],
    ['matchLabels equal', { matchLabels: { role: 'hypervisor' } }, true],
    ['matchLabels differ', { matchLabels: { role: 'storage' } }, false],
    ['In', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }, true],
    ['In without the label', { matchExpressions: [{ key: 'rack', operator: 'In', values: ['a'] }] }, false],
    ['NotIn', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, false],
    ['NotIn without the label', { matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['a'] }] }, true],
    ['Exists', { matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, true],
    ['DoesNotExist', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, false],
    ['labels and expressions both hold', { matchLabels: { role: 'hypervisor' }, matchExpressions: [{ key: 'rack', operator: 'DoesNotExist' }] }, true],
  ];
  for (const [what, selector, expected] of cases) it(what, () => assert.equal(labelSelectorMatches(selector, labels), expected));

  it('nodeNames limits, intersected with nodeSelector; excludeSelector removes', () => {
    const sel = { nodeNames: ['a', 'b'], nodeSelector: { matchLabels: { role: 'hypervisor' } }, excludeSelector: { matchLabels: { hold: 'true' } } };
    assert.equal(selects(sel, 'a', { role: 'hypervisor' }), true);
    assert.equal(selects(sel, 'c', { role: 'hypervisor' }), false);
    assert.equal(selects(sel, 'b', { role: 'storage' }), false);
    assert.equal(selects(sel, 'a', { role: 'hypervisor', hold: 'true' }), false);
    assert.equal(selects({ nodeNames: ['a'] }, 'a', {}), true);
  });
});

describe('device rules', () => {
  const devices = [bridge(), gpu('0000:05:00.0'), gpu('0000:06:00.0', { device: '2331', inUse: false }), gpu('0000:07:00.0', { driver: 'nvme', class: '010802', vendor: '144d' })];
  const rules = (match: unknown[]) => makePlan({ devices: { match } }).spec.devices;
  it('no rules: every endpoint on vfio-pci, never a bridge', () => assert.deepEqual(matchedDevices(rules([]), devices), ['0000:05:00.0', '0000:06:00.0']));
  it('ids with a device wildcard', () => assert.deepEqual(matchedDevices(rules([{ ids: ['10de:*'] }]), devices), ['0000:05:00.0', '0000:06:00.0']));
  it('every given criterion must hold', () => assert.deepEqual(matchedDevices(rules([{ ids: ['10de:*'], inUseOnly: true }]), devices), ['0000:05:00.0']));
  it('class prefixes and drivers; any rule', () =>
    assert.deepEqual(matchedDevices(rules([{ classPrefixes: ['0108'] }, { ids: ['10de:2331'], drivers: ['vfio-pci'] }]), devices), ['0000:06:00.0', '0000:07:00.0']));
  it('a bridge class prefix still never matches a bridge', () => assert.deepEqual(matchedDevices(rules([{ classPrefixes: ['06'] }]), devices), []));
});

describe('eligibility (first failing check wins)', () => {
  const plan = makePlan();
  const check = (node: ReturnType<typeof makeNode>, spec = plan.spec) => eligibility(node, spec, PLAN_UID);
  const reason = (node: ReturnType<typeof makeNode>, spec = plan.spec) => {
    const v = check(node, spec);
    return v.eligible ? 'Eligible' : v.reason;
  };
  it('an idle agent with a preservable GPU is eligible and preserves it', () => assert.deepEqual(check(makeNode('n1')), { eligible: true, preserve: ['0000:05:00.0'] }));
  it('ClaimedByOtherPlan comes first, naming the plan', () => {
    const v = check(makeNode('n1', { record: { claim: { planName: 'other', planUid: 'uid-other' }, status: agentStatus({ luo: { api: 'none' } }) } }));
    assert.equal(v.eligible, false);
    assert.match(!v.eligible ? v.message : '', /other/);
  });
  it('a node another plan left cordoned for a human (released claim, its cordon mark) is not ours to take', () => {
    const node = { ...makeNode('n1', { unschedulable: true }), cordonedBy: 'uid-other' };
    assert.equal(reason(node), 'ClaimedByOtherPlan');
    assert.equal(reason({ ...node, cordonedBy: PLAN_UID }), 'Eligible', 'our own mark does not block us');
  });
  it('NoAgent: no record, no boot id, or a report from an earlier boot', () => {
    assert.equal(reason(makeNode('n1', { record: null })), 'NoAgent');
    assert.equal(reason(makeNode('n1', { record: { status: { phase: 'Idle' } } })), 'NoAgent');
    assert.equal(reason(makeNode('n1', { bootID: 'boot-1', record: { status: agentStatus({}, 'boot-0') } })), 'NoAgent');
  });
  it('LuoBusy instead of NoAgent: an agent that reported but could not open /dev/liveupdate says who holds it', () => {
    const busy = { reason: 'LuoBusy', message: '/dev/liveupdate is busy (EBUSY), held by pid 777: …' };
    const { luo: _, ...unknownApi } = agentStatus({ lastError: busy });
    const v = check(makeNode('n1', { record: { status: unknownApi } }));
    assert.equal(!v.eligible && v.reason, 'LuoBusy');
    assert.match(!v.eligible ? v.message : '', /n1.*held by pid 777/);
  });
  it('NoLUO', () => assert.equal(reason(makeNode('n1', { record: { status: agentStatus({ luo: { api: 'none' } }) } })), 'NoLUO'));
  it('UpToDate', () => assert.equal(reason(makeNode('n1', { record: { status: agentStatus({ kernelRelease: TARGET }) } })), 'UpToDate'));
  it('IncompatibleKernel names the release', () => {
    const v = check(makeNode('n1', { record: { status: agentStatus({ kernelRelease: '6.18.1' }) } }));
    assert.equal(!v.eligible && v.reason, 'IncompatibleKernel');
    assert.match(!v.eligible ? v.message : '', /6\.18\.1/);
  });
  it('NoDevices with Skip; eligible with nothing to preserve with LiveUpdate', () => {
    const bare = makeNode('n1', { record: { status: agentStatus({ devices: [bridge()] }) } });
    assert.equal(reason(bare), 'NoDevices');
    assert.deepEqual(check(bare, makePlan({ devices: { onNodesWithoutDevices: 'LiveUpdate' } }).spec), { eligible: true, preserve: [] });
  });
  it('DevicesNotPreservable names the BDF and why; without requirePreservation the rest is preserved', () => {
    const node = makeNode('n1', { record: { status: agentStatus({ devices: [bridge(), gpu(), gpu('0000:06:00.0', { busMaster: false })] }) } });
    const v = check(node);
    assert.equal(!v.eligible && v.reason, 'DevicesNotPreservable');
    assert.match(!v.eligible ? v.message : '', /0000:06:00\.0: bus master is clear/);
    assert.deepEqual(check(node, makePlan({ devices: { requirePreservation: false } }).spec), { eligible: true, preserve: ['0000:05:00.0'] });
  });
});

describe('order', () => {
  const nodes = ['c', 'a', 'e', 'b', 'd'].map((name, i): { name: string; labels: Record<string, string> } => ({ name, labels: i < 2 ? { [ZONE]: 'z2' } : i < 4 ? { [ZONE]: 'z1' } : {} }));
  it('Name sorts', () => assert.deepEqual(orderNodes(nodes, 'Name', 'u'), ['a', 'b', 'c', 'd', 'e']));
  it('Zone round-robins zones by name ("" first), names within a zone', () => assert.deepEqual(orderNodes(nodes, 'Zone', 'u'), ['d', 'b', 'a', 'e', 'c']));
  it('Random is a permutation fixed by the plan uid', () => {
    const one = orderNodes(nodes, 'Random', 'uid-1');
    assert.deepEqual([...one].sort(), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(orderNodes([...nodes].reverse(), 'Random', 'uid-1'), one);
    assert.notDeepEqual(['uid-2', 'uid-3', 'uid-4'].map((u) => orderNodes(nodes, 'Random', u).join()), [one.join(), one.join(), one.join()]);
  });
});

describe('counts', () => {
  it('int-or-percent rounding', () => {
    assert.equal(scaled('10%', 15, true), 2);
    assert.equal(scaled('10%', 15, false), 1);
    assert.equal(scaled('30%', 5, true), 2);
    assert.equal(scaled(3, 100, false), 3);
  });
  it('maxInFlight up, maxUnavailable down, both at least 1; maxFailedNodes down and may be 0', () => {
    const b = resolveBudgets(makePlan({ strategy: { maxInFlight: '10%', maxUnavailable: '10%' }, failurePolicy: { maxFailedNodes: '10%' } }).spec, 5);
    assert.deepEqual([b.maxInFlight, b.maxUnavailable, b.maxFailedNodes], [1, 1, 0]);
    const c = resolveBudgets(makePlan({ strategy: { maxInFlight: '30%', maxUnavailable: '30%' }, failurePolicy: { maxFailedNodes: '30%' } }).spec, 5);
    assert.deepEqual([c.maxInFlight, c.maxUnavailable, c.maxFailedNodes], [2, 1, 1]);
  });
  it('steps round up, never shrink, are capped, and end with every node', () => {
    const steps = [{ nodes: 1 }, { nodes: '10%' }, { nodes: '50%' }, { nodes: 99 }];
    assert.deepEqual(resolveBudgets(makePlan({ strategy: { steps } }).spec, 7).stepTargets, [1, 1, 4, 7]);
    assert.deepEqual(resolveBudgets(makePlan({ strategy: { steps: [{ nodes: 2 }] } }).spec, 7).stepTargets, [2, 7]);
    assert.deepEqual(resolveBudgets(makePlan().spec, 7).stepTargets, [7]);
  });
});

describe('steps and pauses', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const spec = (pause: object, approvals: unknown[] = []) => makePlan({ strategy: { steps: [{ nodes: 1, pause }] }, approvals }).spec;
  const progress = (succeeded: number, inFlight = 0, lost = 0) => ({ succeeded, inFlight, lost });
  it('before the canary is done, starts go up to its target', () => assert.deepEqual(stepState(spec({}), [1, 5], progress(0, 1), undefined, now), { current: 0, completed: 0, startLimit: 1 }));
  it('an untimed pause begins when the step is done and holds until approved', () => {
    const paused = stepState(spec({}), [1, 5], progress(1), { currentStep: 0 }, now);
    assert.deepEqual(paused.pause, { step: 0, since: now.toISOString() });
    assert.equal(paused.startLimit, 1);
    const later = new Date(now.getTime() + 3_600_000);
    assert.equal(stepState(spec({}), [1, 5], progress(1), { currentStep: 1, pause: { step: 0, since: now.toISOString() } }, later).pause?.since, now.toISOString());
    const approved = stepState(spec({}, [{ step: 0, by: 'alice', at: later.toISOString() }]), [1, 5], progress(1), { currentStep: 1, pause: { step: 0, since: now.toISOString() } }, later);
    assert.deepEqual(approved, { current: 1, completed: 1, startLimit: 5 });
  });
  it('a timed pause ends at since + duration and is not restarted afterwards', () => {
    const since = now.toISOString();
    const during = stepState(spec({ duration: '5m' }), [1, 5], progress(1), { currentStep: 1, pause: { step: 0, since } }, new Date(now.getTime() + 60_000));
    assert.equal(during.pause?.until, now.getTime() + 300_000);
    const after = stepState(spec({ duration: '5m' }), [1, 5], progress(1), { currentStep: 1, pause: { step: 0, since } }, new Date(now.getTime() + 300_000));
    assert.equal(after.pause, undefined);
    assert.equal(stepState(spec({ duration: '5m' }), [1, 5], progress(1), { currentStep: 1 }, new Date(now.getTime() + 400_000)).pause, undefined);
  });
  it('a lost node shrinks the reachable target instead of blocking the step', () =>
    assert.deepEqual(stepState(makePlan().spec, [5], progress(4, 0, 1), undefined, now), { current: 0, completed: 1, startLimit: 4 }));
});
