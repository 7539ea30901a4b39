// Capped, jittered exponential backoff for reconnect loops (informers, leader election retries): a server that is
// down must not be hammered in a tight loop, and many clients must not retry in lock-step.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Each delay is drawn from [d·(1−jitter), d]; 0 disables jitter. */
  jitter?: number;
  random?: () => number;
}

export class Backoff {
  private failures = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** The delay before the next try; each call counts one more failure. */
  next(): number {
    const { initialMs, maxMs, jitter = 0.5, random = Math.random } = this.options;
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(this.failures, 52));
    this.failures++;
    return Math.round(ceiling * (1 - jitter * random()));
  }

  /** A success: the next failure starts from the initial delay again. */
  reset(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects: callers check the signal themselves). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
