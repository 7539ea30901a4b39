// metav1.MicroTime (Lease renewTime / acquireTime, Event eventTime): the apiserver wants RFC 3339 with exactly six
// fractional digits; a JS Date serializes three and is rejected.
import { V1MicroTime } from '@kubernetes/client-node';

/** `date` in UTC with six fractional digits, e.g. `2026-11-30T22:19:21.123000Z` (JS time stops at milliseconds). */
export function microTime(date: Date = new Date()): string {
  return `${date.toISOString().slice(0, -1)}000Z`;
}

/**
 * The same instant for client-node's typed models. Their serializer passes `V1MicroTime` through to JSON.stringify,
 * and client-node's class overrides `toISOString` (which `toJSON` calls) to print six digits; a plain `Date` would go
 * out with three. test/unit/kube/micro-time.test.ts holds client-node to that.
 */
export function v1MicroTime(date: Date = new Date()): V1MicroTime {
  return new V1MicroTime(date.getTime());
}
