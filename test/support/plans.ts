// A valid plan and a table of malformed ones, shared by the zod unit tests and the apiserver integration tests:
// both checkers must reject every case and name the same field.
type Json = Record<string, unknown>;

export function validPlan(name: string): Json {
  return {
    apiVersion: 'liveupdate.dev/v1alpha1',
    kind: 'LiveUpdatePlan',
    metadata: { name },
    spec: {
      target: {
        kernel: { release: '6.19.4-lu2', image: '/var/lib/liveupdate/vmlinuz-6.19.4-lu2', sha256: 'a'.repeat(64) },
        compatibleFrom: ['6.19.*'],
      },
      selector: { nodeSelector: { matchLabels: { role: 'hypervisor' } } },
      strategy: { maxInFlight: 2, steps: [{ nodes: 1, pause: {} }, { nodes: '100%' }], windows: [{ schedule: '0 2 * * 1-5', duration: '4h' }] },
    },
  };
}

export interface MalformedCase {
  what: string;
  /** Field path both the apiserver and parsePlan must name. */
  field: string;
  mutate: (spec: Json) => void;
}

const at = (spec: Json, path: string): Json => path.split('.').filter(Boolean).reduce<Json>((o, k) => o[k] as Json, spec);
const set = (path: string, value: unknown) => (spec: Json) => {
  const keys = path.split('.');
  const last = keys.pop()!;
  at(spec, keys.join('.'))[last] = value;
};
const drop = (path: string) => (spec: Json) => {
  const keys = path.split('.');
  const last = keys.pop()!;
  delete at(spec, keys.join('.'))[last];
};
const kernel = (key: string, value: unknown) => (spec: Json) => (at(spec, 'target.kernel')[key] = value);
const strategy = (key: string, value: unknown) => (spec: Json) => (at(spec, 'strategy')[key] = value);
const window0 = (key: string, value: unknown) => (spec: Json) => ((at(spec, 'strategy').windows as Json[])[0]![key] = value);

const setTop = (key: string, value: unknown) => (spec: Json) => (spec[key] = value);

export const MALFORMED_PLANS: MalformedCase[] = [
  { what: 'sha256 too short', field: 'spec.target.kernel.sha256', mutate: kernel('sha256', 'abc123') },
  { what: 'sha256 in uppercase', field: 'spec.target.kernel.sha256', mutate: kernel('sha256', 'A'.repeat(64)) },
  { what: 'relative kernel image path', field: 'spec.target.kernel.image', mutate: kernel('image', 'boot/vmlinuz') },
  { what: 'kernel release with a space', field: 'spec.target.kernel.release', mutate: kernel('release', '6.19 lu2') },
  { what: 'kernel release missing', field: 'spec.target.kernel.release', mutate: drop('target.kernel.release') },
  { what: 'relative initrd path', field: 'spec.target.kernel.initrd', mutate: kernel('initrd', 'initrd.img') },
  { what: 'initrd without its sha256', field: 'spec.target.kernel.initrdSha256', mutate: kernel('initrd', '/var/lib/liveupdate/initrd.img') },
  { what: 'initrdSha256 without an initrd', field: 'spec.target.kernel.initrdSha256', mutate: kernel('initrdSha256', 'b'.repeat(64)) },
  { what: 'initrdSha256 too short', field: 'spec.target.kernel.initrdSha256', mutate: (spec) => Object.assign(at(spec, 'target.kernel'), { initrd: '/var/lib/liveupdate/initrd.img', initrdSha256: 'abc' }) },
  { what: 'cmdline parameter with spaces', field: 'spec.target.kernel.cmdline.append[0]', mutate: kernel('cmdline', { append: ['a=1 b=2'] }) },
  { what: 'cmdline remove without reuse', field: 'spec.target.kernel.cmdline.remove', mutate: kernel('cmdline', { reuse: false, remove: ['quiet'] }) },
  { what: 'no compatible running kernels', field: 'spec.target.compatibleFrom', mutate: set('target.compatibleFrom', []) },
  { what: 'compatibleFrom missing', field: 'spec.target.compatibleFrom', mutate: drop('target.compatibleFrom') },
  { what: 'empty selector', field: 'spec.selector', mutate: setTop('selector', {}) },
  { what: 'selector with an empty nodeNames list only', field: 'spec.selector', mutate: setTop('selector', { nodeNames: [] }) },
  { what: 'node name in uppercase', field: 'spec.selector.nodeNames[0]', mutate: setTop('selector', { nodeNames: ['GPU-01'] }) },
  {
    what: 'unknown label selector operator',
    field: 'spec.selector.nodeSelector.matchExpressions[0].operator',
    mutate: setTop('selector', { nodeSelector: { matchExpressions: [{ key: 'zone', operator: 'Like' }] } }),
  },
  { what: 'In without values', field: 'spec.selector.nodeSelector.matchExpressions[0].values', mutate: setTop('selector', { nodeSelector: { matchExpressions: [{ key: 'zone', operator: 'In' }] } }) },
  {
    what: 'NotIn with an empty values list',
    field: 'spec.selector.excludeSelector.matchExpressions[0].values',
    mutate: setTop('selector', { nodeNames: ['gpu-01'], excludeSelector: { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: [] }] } }),
  },
  {
    what: 'Exists with values',
    field: 'spec.selector.excludeSelector.matchExpressions[0].values',
    mutate: setTop('selector', { nodeNames: ['gpu-01'], excludeSelector: { matchExpressions: [{ key: 'liveupdate.dev/hold', operator: 'Exists', values: ['true'] }] } }),
  },
  {
    what: 'label selector key with two slashes',
    field: 'spec.selector.nodeSelector.matchExpressions[0].key',
    mutate: setTop('selector', { nodeSelector: { matchExpressions: [{ key: 'a/b/c', operator: 'Exists' }] } }),
  },
  {
    what: 'label selector key name over 63 characters',
    field: 'spec.selector.nodeSelector.matchExpressions[0].key',
    mutate: setTop('selector', { nodeSelector: { matchExpressions: [{ key: `example.com/${'n'.repeat(64)}`, operator: 'Exists' }] } }),
  },
  {
    what: 'label selector key prefix over 253 characters',
    field: 'spec.selector.nodeSelector.matchExpressions[0].key',
    mutate: setTop('selector', { nodeSelector: { matchExpressions: [{ key: `${'a'.repeat(254)}/zone`, operator: 'Exists' }] } }),
  },
  {
    what: 'label selector value with a space',
    field: 'spec.selector.nodeSelector.matchExpressions[0].values[0]',
    mutate: setTop('selector', { nodeSelector: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['eu west'] }] } }),
  },
  { what: 'matchLabels key with a space', field: 'spec.selector.nodeSelector.matchLabels', mutate: setTop('selector', { nodeSelector: { matchLabels: { 'my role': 'hypervisor' } } }) },
  { what: 'matchLabels value ending in a dash', field: 'spec.selector.nodeSelector.matchLabels.role', mutate: setTop('selector', { nodeSelector: { matchLabels: { role: 'hypervisor-' } } }) },
  { what: 'device id in uppercase', field: 'spec.devices.match[0].ids[0]', mutate: setTop('devices', { match: [{ ids: ['10DE:2330'] }] }) },
  { what: 'device match with no criterion', field: 'spec.devices.match[0]', mutate: setTop('devices', { match: [{ inUseOnly: true }] }) },
  { what: 'odd-length class prefix', field: 'spec.devices.match[0].classPrefixes[0]', mutate: setTop('devices', { match: [{ classPrefixes: ['030'] }] }) },
  { what: 'unknown onNodesWithoutDevices', field: 'spec.devices.onNodesWithoutDevices', mutate: setTop('devices', { onNodesWithoutDevices: 'Drain' }) },
  { what: 'maxInFlight of zero', field: 'spec.strategy.maxInFlight', mutate: strategy('maxInFlight', 0) },
  { what: 'maxInFlight of 0%', field: 'spec.strategy.maxInFlight', mutate: strategy('maxInFlight', '0%') },
  { what: 'maxInFlight not a number or percent', field: 'spec.strategy.maxInFlight', mutate: strategy('maxInFlight', 'two') },
  { what: 'fractional maxInFlight', field: 'spec.strategy.maxInFlight', mutate: strategy('maxInFlight', 1.5) },
  { what: 'negative maxUnavailable', field: 'spec.strategy.maxUnavailable', mutate: strategy('maxUnavailable', -1) },
  { what: 'maxUnavailable over 100%', field: 'spec.strategy.maxUnavailable', mutate: strategy('maxUnavailable', '150%') },
  { what: 'step of zero nodes', field: 'spec.strategy.steps[0].nodes', mutate: strategy('steps', [{ nodes: 0 }]) },
  { what: 'zero pause', field: 'spec.strategy.steps[0].pause.duration', mutate: strategy('steps', [{ nodes: 1, pause: { duration: '0s' } }]) },
  { what: 'too many steps', field: 'spec.strategy.steps', mutate: strategy('steps', Array.from({ length: 33 }, (_, i) => ({ nodes: i + 1 }))) },
  { what: 'cron with four fields', field: 'spec.strategy.windows[0].schedule', mutate: window0('schedule', '0 2 * *') },
  { what: 'window of zero length', field: 'spec.strategy.windows[0].duration', mutate: window0('duration', '0m') },
  { what: 'window longer than a week', field: 'spec.strategy.windows[0].duration', mutate: window0('duration', '200h') },
  { what: 'window duration in words', field: 'spec.strategy.windows[0].duration', mutate: window0('duration', 'forever') },
  { what: 'time zone with a space', field: 'spec.strategy.windows[0].timeZone', mutate: window0('timeZone', 'Paris Time') },
  { what: 'unknown mode', field: 'spec.strategy.mode', mutate: strategy('mode', 'DryRun') },
  { what: 'unknown order', field: 'spec.strategy.order', mutate: strategy('order', 'Shuffle') },
  { what: 'paused as a string', field: 'spec.strategy.paused', mutate: strategy('paused', 'yes') },
  { what: 'soak in words', field: 'spec.strategy.nodeSoak', mutate: strategy('nodeSoak', '10 minutes') },
  { what: 'negative maxFailedNodes', field: 'spec.failurePolicy.maxFailedNodes', mutate: setTop('failurePolicy', { maxFailedNodes: -1 }) },
  { what: 'unknown onFailure', field: 'spec.failurePolicy.onFailure', mutate: setTop('failurePolicy', { onFailure: 'Retry' }) },
  { what: 'zero prepare timeout', field: 'spec.timeouts.prepare', mutate: setTop('timeouts', { prepare: '0s' }) },
  { what: 'node return timeout over 30 days', field: 'spec.timeouts.nodeReturn', mutate: setTop('timeouts', { nodeReturn: '1000h' }) },
  { what: 'abort as a string', field: 'spec.abort', mutate: setTop('abort', 'true') },
  { what: 'target missing', field: 'spec.target', mutate: drop('target') },
];

export function malformedPlan(name: string, c: MalformedCase): Json {
  const plan = validPlan(name);
  c.mutate(plan.spec as Json);
  return plan;
}
