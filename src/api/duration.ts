// Go-style durations (what Kubernetes and CEL's duration() accept), as milliseconds.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export const DURATION_PATTERN = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;

/** Milliseconds of a duration like "1h30m"; throws on anything DURATION_PATTERN rejects. */
export function durationMs(text: string): number {
  if (!DURATION_PATTERN.test(text)) throw new Error(`"${text}" is not a duration like 30s, 10m or 1h30m`);
  let total = 0;
  for (const [, amount, , unit] of text.matchAll(/([0-9]+(\.[0-9]+)?)(ms|s|m|h)/g)) total += Number(amount) * UNIT_MS[unit!]!;
  return total;
}
