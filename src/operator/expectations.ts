// Our own writes vs. a stale cache (Cluster API's "defer until the cache is up to date", Kubernetes' expectations):
// after writing, the next pass must not plan from a cache that does not show those writes yet, or it could spend the
// same budget twice. Each plan remembers the resourceVersions it wrote; planning waits until the caches hold them.
import type { Written } from './executor';

/** How long an unmet expectation is trusted before we plan anyway (a deleted object never shows its write). */
const EXPIRY_MS = 60_000;

/** resourceVersions are opaque to clients, but etcd's are integers: compare as such, else require equality. */
function atLeast(cached: string, written: string): boolean {
  if (/^\d+$/.test(cached) && /^\d+$/.test(written)) return BigInt(cached) >= BigInt(written);
  return cached === written;
}

export class Expectations {
  private readonly pending = new Map<string, { writes: Written[]; at: number }>();

  record(plan: string, writes: Written[], now = Date.now()): void {
    if (writes.length === 0) return;
    const entry = this.pending.get(plan) ?? { writes: [], at: now };
    entry.writes.push(...writes);
    entry.at = now;
    this.pending.set(plan, entry);
  }

  /** True when every write of this plan shows in the caches (then forgotten), or the expectation expired. */
  satisfied(plan: string, cachedVersion: (w: Written) => string | undefined, now = Date.now()): boolean {
    const entry = this.pending.get(plan);
    if (!entry) return true;
    entry.writes = entry.writes.filter((w) => {
      const cached = cachedVersion(w);
      return cached !== undefined && !atLeast(cached, w.resourceVersion); // a deleted object has nothing left to wait for
    });
    if (entry.writes.length === 0 || now - entry.at > EXPIRY_MS) {
      this.pending.delete(plan);
      return true;
    }
    return false;
  }

  forget(plan: string): void {
    this.pending.delete(plan);
  }
}
