// "Write status only when it changed": every reconcile computes the whole desired status, but an unchanged status must
// cost no API write (no resourceVersion bump, no watch event that would trigger yet another reconcile).

type Json = unknown;

const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Absent, undefined and null all mean "no value" in a merge patch. */
const isAbsent = (v: Json): boolean => v === undefined || v === null;
/** Own keys only: `__proto__` is an ordinary key in JSON, not a way to Object.prototype. */
const own = (o: Record<string, Json>, key: string): Json => (Object.hasOwn(o, key) ? o[key] : undefined);

/** Deep equality ignoring key order, with undefined and missing keys equal. */
export function semanticEqual(a: Json, b: Json): boolean {
  if (isAbsent(a) || isAbsent(b)) return isAbsent(a) && isAbsent(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => semanticEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => semanticEqual(own(a, k), own(b, k)));
  }
  return Object.is(a, b);
}

/**
 * The RFC 7386 merge patch that turns `from` into `to`: changed keys recursively, removed keys as null, arrays whole.
 * Undefined when nothing differs.
 */
export function mergePatchBetween(from: Json, to: Json): Json {
  if (semanticEqual(from, to)) return undefined;
  if (!isObject(from) || !isObject(to)) return isAbsent(to) ? null : to;
  // Null prototype: assigning a `__proto__` key must make a property, not set the prototype.
  const patch = Object.create(null) as Record<string, Json>;
  for (const key of new Set([...Object.keys(from), ...Object.keys(to)])) {
    const sub = mergePatchBetween(own(from, key), own(to, key));
    if (sub !== undefined) patch[key] = sub;
  }
  return patch;
}

export interface StatusPatcher {
  patchStatus(name: string, patch: object): Promise<unknown>;
}

/**
 * Sends a merge patch to `/status` with only what differs between the status as last read and `desired`, and only if
 * something does. Returns whether it wrote.
 */
export async function writeStatusIfChanged<S>(
  resource: StatusPatcher,
  current: { metadata: { name?: string | undefined }; status?: S | undefined },
  desired: S,
): Promise<boolean> {
  const { name } = current.metadata;
  if (!name) throw new Error('writeStatusIfChanged: the object has no metadata.name');
  const patch = mergePatchBetween(current.status ?? {}, desired ?? {});
  if (patch === undefined) return false;
  await resource.patchStatus(name, { status: patch });
  return true;
}
