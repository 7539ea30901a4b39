// Rate limiters for re-queueing failed keys, with client-go's semantics (util/workqueue/default_rate_limiters.go):
// a per-key exponential backoff so one broken object backs off alone, and an overall token bucket so a burst of
// failures across many keys cannot hammer the apiserver.

export interface RateLimiter {
  /** The delay (ms) before `key` may be retried; each call counts one more retry. */
  when(key: string): number;
  /** The key succeeded: its next failure starts from scratch. */
  forget(key: string): void;
  retries(key: string): number;
}

/** Per key: base·2^failures, capped at max; the first `when` returns base. */
export class ItemExponentialRateLimiter implements RateLimiter {
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly baseMs = 5,
    private readonly maxMs = 1_000_000,
  ) {}

  when(key: string): number {
    const exp = this.failures.get(key) ?? 0;
    this.failures.set(key, exp + 1);
    // The exponent cap only keeps the product finite (a zero base must stay zero, not NaN).
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(exp, 1000));
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/**
 * One bucket for all keys: `burst` tokens, refilled at `qps`. Like golang.org/x/time/rate's `Reserve().Delay()`,
 * `when` always takes a token, going into debt when the bucket is empty, so later callers wait behind earlier ones.
 */
export class TokenBucketRateLimiter implements RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly qps = 10,
    private readonly burst = 100,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(qps > 0) || !Number.isFinite(qps)) throw new RangeError(`token bucket qps must be a positive number, got ${qps}`);
    if (!(burst >= 1)) throw new RangeError(`token bucket burst must be at least 1, got ${burst}`);
    this.tokens = burst;
    this.last = now();
  }

  when(_key: string): number {
    const t = this.now();
    // A clock that steps back refills nothing rather than draining the bucket.
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, t - this.last) / 1000) * this.qps);
    this.last = Math.max(this.last, t);
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  forget(_key: string): void {}

  retries(_key: string): number {
    return 0;
  }
}

/** The strictest of several limiters: the longest delay wins. */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.limiters = limiters;
  }

  when(key: string): number {
    // Every limiter is asked, so each one counts the retry.
    return Math.max(0, ...this.limiters.map((l) => l.when(key)));
  }

  forget(key: string): void {
    for (const l of this.limiters) l.forget(key);
  }

  retries(key: string): number {
    return Math.max(0, ...this.limiters.map((l) => l.retries(key)));
  }
}

/** controller-runtime's default: 5 ms → 1000 s per key, at most 10 qps (burst 100) overall. */
export function defaultControllerRateLimiter(): RateLimiter {
  return new MaxOfRateLimiter(new ItemExponentialRateLimiter(5, 1_000_000), new TokenBucketRateLimiter(10, 100));
}
