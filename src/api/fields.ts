// Field types shared by the API kinds. Kubernetes extensions ride along as zod metadata so the CRD generator emits them.
import { z } from 'zod';
import { DURATION_PATTERN, durationMs } from './duration';

export const GROUP = 'liveupdate.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** A CEL rule for x-kubernetes-validations; fieldPath makes the apiserver's message name the field. */
export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
}

export const cel = (...rules: CelRule[]) => ({ 'x-kubernetes-validations': rules });

/** A cross-field rule stated once for both checkers: CEL for the apiserver, `holds` for zod (same meaning). */
export interface Rule<T> extends CelRule {
  holds: (value: T) => boolean;
}

/** Attaches rules to a schema: the apiserver enforces the CEL, parse() the predicate, with the same field path. */
export function withRules<S extends z.ZodType>(schema: S, ...rules: Rule<z.output<S>>[]): S {
  let checked: S = schema;
  for (const { holds, ...celRule } of rules) {
    const path = celRule.fieldPath ? celRule.fieldPath.slice(1).split('.') : [];
    checked = checked.refine(holds, { message: celRule.message, path });
  }
  return checked.meta(cel(...rules.map(({ holds: _, ...celRule }) => celRule)));
}

/**
 * An optional object defaulting to itself parsed from {}: the CRD default then carries every nested default,
 * which the apiserver needs (it checks CEL rules against the default value as written).
 */
export function defaulted<T extends z.ZodObject>(schema: T) {
  return schema.default(() => schema.parse({}) as z.core.util.NoUndefined<z.output<T>>);
}

export const BDF_PATTERN = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
export const Bdf = z.string().regex(BDF_PATTERN, 'must be a PCI address like 0000:05:00.1 (lowercase hex)');

/** Go-style duration as Kubernetes and CEL's duration() accept it (e.g. 90s, 10m, 1h30m). */
export const Duration = z.string().max(32).regex(DURATION_PATTERN, 'must be a duration like 30s, 10m or 1h30m');

/** A duration in (0, max]. */
export const positiveDuration = (what: string, max = '720h') =>
  withRules(Duration, {
    rule: `duration(self) > duration('0s') && duration(self) <= duration('${max}')`,
    message: `${what} must be greater than 0 and at most ${max}`,
    // zod runs every check: a value the pattern already rejected is not reported twice.
    holds: (d) => !DURATION_PATTERN.test(d) || (durationMs(d) > 0 && durationMs(d) <= durationMs(max)),
  });

/** Kubernetes int-or-string: a count, or a percentage of the selected nodes. Bounds are checked by CEL (structural schemas forbid value checks in anyOf). */
export function intOrPercent(min: 0 | 1, what: string) {
  const percent = min === 0 ? '^(100|[1-9]?[0-9])%$' : '^(100|[1-9][0-9]?)%$';
  const schema = z.union([z.int(), z.string()]).meta({ 'x-kubernetes-int-or-string': true, maxLength: 4 }); // maxLength bounds the CEL cost
  return withRules(schema, {
    rule: `type(self) == int ? self >= ${min} : self.matches('${percent}')`,
    message: `${what} must be an integer >= ${min} or a percentage from ${min}% to 100%`,
    holds: (v) => (typeof v === 'number' ? v >= min : new RegExp(percent).test(v)),
  });
}

export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
export const AbsolutePath = z.string().regex(/^\/[^\0]*$/, 'must be an absolute host path').max(4096);
export const Time = z.iso.datetime({ offset: true });

/** A label key (apimachinery's IsQualifiedName): optional DNS subdomain prefix and '/', then a name of at most 63. */
const LABEL_KEY_PATTERN = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** The prefix length the pattern cannot bound (RE2 has no lookahead): at most 253 characters before '/'. */
const LABEL_KEY_PREFIX = '^([^/]{1,253}/)?[^/]+$';
const keyPrefixFits = (key: string): boolean => new RegExp(LABEL_KEY_PREFIX).test(key);
const LABEL_KEY_MESSAGE = "must be a label key like example.com/name: an optional DNS subdomain prefix of at most 253 characters and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
const LabelKey = withRules(z.string().min(1).max(317).regex(LABEL_KEY_PATTERN, LABEL_KEY_MESSAGE), {
  rule: `self.matches('${LABEL_KEY_PREFIX}')`,
  message: 'the label key prefix (before /) must be at most 253 characters',
  holds: keyPrefixFits,
});
const LabelValue = z
  .string()
  .max(63)
  .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, "must be a label value: empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit");

/** metav1.LabelSelector, with the apiserver's own checks of keys, values and operator/values combinations. */
const LabelSelectorRequirement = withRules(
  z.object({
    key: LabelKey,
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
    values: z.array(LabelValue).max(64).optional(),
  }),
  {
    rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
    message: 'In and NotIn need at least one value; Exists and DoesNotExist take none: add values or remove them',
    fieldPath: '.values',
    holds: (r) => (r.operator === 'In' || r.operator === 'NotIn') === ((r.values ?? []).length > 0),
  },
);
export const LabelSelector = z
  .object({
    // Map keys have no schema of their own: CEL checks them (bounded by maxProperties for the cost estimate).
    matchLabels: withRules(z.record(z.string(), LabelValue), {
      rule: `self.all(k, k.matches(r'${LABEL_KEY_PATTERN.source}') && k.matches('${LABEL_KEY_PREFIX}'))`,
      message: `every matchLabels key ${LABEL_KEY_MESSAGE}`,
      holds: (labels) => Object.keys(labels).every((k) => LABEL_KEY_PATTERN.test(k) && keyPrefixFits(k)),
    })
      .meta({ maxProperties: 64 })
      .optional(),
    matchExpressions: z.array(LabelSelectorRequirement).max(32).optional(),
  })
  .meta({ 'x-kubernetes-map-type': 'atomic' });
export type LabelSelector = z.infer<typeof LabelSelector>;

/** metav1.Condition, with the same validation as the upstream type. */
export const Condition = z.object({
  type: z.string().regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/).max(316),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: Time,
  reason: z.string().regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/).min(1).max(1024),
  message: z.string().max(32768),
});
export type Condition = z.infer<typeof Condition>;
export const Conditions = z
  .array(Condition)
  .max(16)
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

/** The kernel to boot: shared by the plan's target and the node's copy of it. */
const KernelCmdline = withRules(
  z.object({
    append: z.array(z.string().min(1).max(1024).regex(/^\S+$/, 'must be one parameter without spaces')).max(64).default([]),
    remove: z.array(z.string().min(1).max(256).regex(/^\S+$/, 'must be one parameter name without spaces')).max(64).default([]),
    reuse: z.boolean().default(true),
  }),
  {
    rule: 'size(self.remove) == 0 || self.reuse',
    message: 'remove only applies to a reused command line: set reuse: true or drop remove',
    fieldPath: '.remove',
    holds: (c) => c.remove.length === 0 || c.reuse,
  },
);

export const KernelTarget = withRules(
  z.object({
    release: z.string().min(1).max(128).regex(/^[A-Za-z0-9._+~-]+$/, 'must be a kernel release like 6.19.2-lu1'),
    image: AbsolutePath,
    initrd: AbsolutePath.optional(),
    sha256: Sha256,
    initrdSha256: Sha256.optional().describe('sha256 of the initrd: the agent refuses to load an initrd that does not match, as it does the image.'),
    cmdline: defaulted(KernelCmdline),
  }),
  {
    // The initrd runs as early user space of the new kernel: it is checked like the image, never loaded unverified.
    rule: 'has(self.initrd) == has(self.initrdSha256)',
    message: 'initrd and initrdSha256 go together: give the initrd\'s sha256 (sha256sum) with it, or drop both',
    fieldPath: '.initrdSha256',
    holds: (k) => (k.initrd === undefined) === (k.initrdSha256 === undefined),
  },
);
export type KernelTarget = z.infer<typeof KernelTarget>;

export const CompatibleFrom = z
  .array(z.string().min(1).max(128).regex(/^[A-Za-z0-9._+~*?-]+$/, 'must be a release pattern like 6.19.*'))
  .min(1)
  .max(32)
  .describe('Release globs (* and ?) the running kernel must match: the handover ABI has no cross-version guarantee.');

/** A release glob (* and ?) as a RegExp. */
export function releasePattern(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

export const releaseMatches = (release: string, globs: readonly string[]): boolean => globs.some((g) => releasePattern(g).test(release));

/** The metadata fields our code reads; the rest passes through untouched. */
export const ObjectMeta = z.looseObject({
  name: z.string().optional(),
  uid: z.string().optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
