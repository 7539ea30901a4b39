// Random plan specs that the zod schema accepts, with optional fields left out at random, to check that the
// apiserver (OpenAPI + CEL generated from the same schema) accepts them too and defaults them the same way.
import fc from 'fast-check';

const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const percent = (min: number) => fc.integer({ min, max: 100 }).map((n) => `${n}%`);
const intOrPercent = (min: number) => fc.oneof(fc.integer({ min, max: 500 }), percent(Math.max(min, min === 0 ? 0 : 1)));
const duration = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 59 }), fc.constantFrom('s', 'm', 'h')), { minLength: 1, maxLength: 2 })
  .map((parts) => parts.map(([n, unit]) => `${n}${unit}`).join(''));
const shortDuration = fc.tuple(fc.integer({ min: 1, max: 59 }), fc.constantFrom('s', 'm')).map(([n, u]) => `${n}${u}`);
const nodeName = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
const cronField = fc.oneof(fc.constant('*'), fc.integer({ min: 0, max: 23 }).map(String), fc.constant('*/15'), fc.constant('1-5'));
const cron = fc.tuple(cronField, cronField, cronField, fc.constantFrom('*', '1', '1-6'), fc.constantFrom('*', '1-5', 'MON')).map((f) => f.join(' '));

const kernel = fc.record(
  {
    release: fc.stringMatching(/^6\.(1[0-9])\.[0-9]{1,2}(-lu[0-9])?$/),
    image: fc.stringMatching(/^\/var\/lib\/liveupdate\/[a-z0-9.-]{1,20}$/),
    initrd: fc.record({ initrd: fc.stringMatching(/^\/var\/lib\/liveupdate\/[a-z0-9.-]{1,20}$/), initrdSha256: hex(64) }),
    sha256: hex(64),
    cmdline: fc.oneof(
      fc.record({ append: fc.array(fc.stringMatching(/^[a-z_]{1,10}(=[a-z0-9]{1,5})?$/), { maxLength: 3 }), reuse: fc.constant(true), remove: fc.array(fc.stringMatching(/^[a-z_]{1,10}$/), { maxLength: 2 }) }, { requiredKeys: [] }),
      fc.record({ append: fc.array(fc.stringMatching(/^[a-z_]{1,10}$/), { maxLength: 3 }), reuse: fc.constant(false) }, { requiredKeys: ['reuse'] }),
    ),
  },
  { requiredKeys: ['release', 'image', 'sha256'] },
).map(({ initrd, ...k }) => ({ ...k, ...initrd })); // an initrd always comes with its hash

const selector = fc.oneof(
  fc.record({ nodeSelector: fc.record({ matchLabels: fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.stringMatching(/^[a-z0-9]{0,8}$/), { maxKeys: 3 }) }, { requiredKeys: [] }) }),
  fc.record({ nodeNames: fc.array(nodeName, { minLength: 1, maxLength: 5 }) }),
  fc.record({
    nodeSelector: fc.record({ matchExpressions: fc.array(fc.record({ key: fc.stringMatching(/^[a-z]{1,8}$/), operator: fc.constantFrom('Exists', 'DoesNotExist') }), { minLength: 1, maxLength: 2 }) }),
    excludeSelector: fc.record({ matchLabels: fc.constant({ hold: 'true' }) }),
  }),
);

const deviceMatch = fc.record(
  {
    ids: fc.array(fc.tuple(hex(4), fc.oneof(hex(4), fc.constant('*'))).map(([v, d]) => `${v}:${d}`), { minLength: 1, maxLength: 3 }),
    classPrefixes: fc.array(fc.constantFrom('03', '0302', '0108', '010802', '02'), { minLength: 1, maxLength: 2 }),
    drivers: fc.array(fc.constantFrom('vfio-pci', 'nvme', 'mlx5_core'), { minLength: 1, maxLength: 2 }),
    inUseOnly: fc.boolean(),
  },
  { requiredKeys: ['ids'] },
);

export const validPlanSpec = fc.record(
  {
    target: fc.record({ kernel, compatibleFrom: fc.array(fc.constantFrom('6.19.*', '6.1?.*', '6.19.3-lu1', '*'), { minLength: 1, maxLength: 3 }) }),
    selector,
    devices: fc.record(
      { match: fc.array(deviceMatch, { maxLength: 3 }), requirePreservation: fc.boolean(), onNodesWithoutDevices: fc.constantFrom('Skip', 'LiveUpdate') },
      { requiredKeys: [] },
    ),
    strategy: fc.record(
      {
        maxUnavailable: intOrPercent(1),
        maxInFlight: intOrPercent(1),
        steps: fc.array(fc.record({ nodes: intOrPercent(1), pause: fc.record({ duration: shortDuration }, { requiredKeys: [] }) }, { requiredKeys: ['nodes'] }), { maxLength: 4 }),
        nodeSoak: duration,
        order: fc.constantFrom('Name', 'Zone', 'Random'),
        windows: fc.array(fc.record({ schedule: cron, duration: fc.constantFrom('30m', '4h', '1h30m', '168h'), timeZone: fc.constantFrom('UTC', 'Europe/Paris', 'America/New_York', 'Etc/GMT+2') }, { requiredKeys: ['schedule', 'duration'] }), { maxLength: 2 }),
        paused: fc.boolean(),
        mode: fc.constantFrom('Preview', 'Execute'),
      },
      { requiredKeys: [] },
    ),
    failurePolicy: fc.record({ maxFailedNodes: intOrPercent(0), onFailure: fc.constantFrom('Halt', 'Continue', 'CancelInFlight') }, { requiredKeys: [] }),
    timeouts: fc.record({ prepare: duration, nodeReturn: duration, verify: duration, finish: duration }, { requiredKeys: [] }),
    abort: fc.boolean(),
  },
  { requiredKeys: ['target', 'selector'] },
);
