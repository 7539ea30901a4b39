// The controller work queue, with client-go's semantics (util/workqueue/queue.go, delaying_queue.go,
// rate_limiting_queue.go): a key waits in the queue at most once (`dirty`), is never handed to two workers at once
// (`processing`), and a key added while it is processed is handed out again after `done`. Without this, two async
// reconciles of one object would interleave.
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter';

export interface InFlightWork {
  /** Sum over keys being processed of how long each has been running. */
  unfinishedSeconds: number;
  longestRunningSeconds: number;
}

/** Where a queue reports what it does; controller-runtime's workqueue metrics are one implementation. */
export interface WorkQueueMetrics {
  /** A key became pending (depth + 1). */
  add(): void;
  /** A pending key was handed to a worker (depth − 1) after waiting `queuedSeconds`. */
  get(queuedSeconds: number): void;
  /** A worker finished a key it held for `workSeconds`. */
  done(workSeconds: number): void;
  /** A delayed or rate-limited add. */
  retry(): void;
  /** Called once by the queue: the sink reads in-flight work through `read` when scraped, so nothing polls. */
  trackInFlight(read: () => InFlightWork): void;
}

export interface WorkQueueOptions {
  name: string;
  /** Defaults to controller-runtime's: 5 ms → 1000 s per key, max-ed with 10 qps / burst 100 overall. */
  rateLimiter?: RateLimiter;
  metrics?: WorkQueueMetrics;
  /** Monotonic clock in ms, for the metrics' durations and delayed adds' ready times. */
  now?: () => number;
}

// Node's timers overflow above 2^31−1 ms (and then fire after 1 ms); a longer delay re-adds early, which a
// level-triggered reconcile tolerates.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WorkQueue {
  readonly name: string;
  private readonly rateLimiter: RateLimiter;
  private readonly metrics: WorkQueueMetrics | undefined;
  private readonly now: () => number;

  private readonly queue: string[] = [];
  /** Keys that need processing: queued, or being processed and added again. Value: when they became dirty. */
  private readonly dirty = new Map<string, number>();
  /** Keys handed to a worker and not yet `done`. Value: when processing started. */
  private readonly processing = new Map<string, number>();
  /** Workers blocked in `get`; non-empty only while the queue is empty. */
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly delayed = new Map<string, { readyAt: number; timer: NodeJS.Timeout }>();
  private readonly drainWaiters: (() => void)[] = [];
  private shuttingDown = false;
  private draining = false;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter();
    this.metrics = options.metrics;
    this.now = options.now ?? (() => performance.now());
    this.metrics?.trackInFlight(() => this.inFlight());
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.set(key, this.now());
    this.metrics?.add();
    if (!this.processing.has(key)) this.enqueue(key);
  }

  /**
   * The next key to process; `done(key)` must follow. Resolves `undefined` once shut down: at once after `shutDown`,
   * after the queue has emptied after `shutDownWithDrain`.
   */
  async get(): Promise<string | undefined> {
    if (!this.shuttingDown || this.draining) {
      const key = this.queue.shift();
      if (key !== undefined) return this.handOut(key);
    }
    if (this.shuttingDown) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.processing.delete(key);
    this.metrics?.done((this.now() - started) / 1000);
    if (this.dirty.has(key)) this.enqueue(key);
    this.settleDrain();
  }

  /** Keys waiting to be handed out (not those being processed). */
  len(): number {
    return this.queue.length;
  }

  /** Adds `key` after `ms`; of several pending delayed adds of one key, the earliest ready time wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    this.metrics?.retry();
    if (!(ms > 0)) return this.add(key);
    const delay = Math.min(ms, MAX_TIMER_MS);
    const readyAt = this.now() + delay;
    const pending = this.delayed.get(key);
    if (pending && pending.readyAt <= readyAt) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delay);
    this.delayed.set(key, { readyAt, timer });
  }

  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    this.addAfter(key, this.rateLimiter.when(key));
  }

  /** The key succeeded: reset its backoff (it does not remove a pending add). */
  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.rateLimiter.retries(key);
  }

  /**
   * Stops at once: adds are ignored, delayed adds cancelled, and `get` resolves `undefined` even while keys are queued
   * (unlike client-go, whose workers drain the queue after ShutDown). Keys in flight may still be `done`. Also ends a
   * drain in progress, which is how a grace period is enforced.
   */
  shutDown(): void {
    this.stopAccepting();
    this.draining = false;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  /**
   * Stops accepting adds but keeps handing out queued keys (and keys re-added while in flight); resolves once the
   * queue is empty and every key handed out is `done`. Workers must keep calling `get` until it returns `undefined`.
   */
  async shutDownWithDrain(): Promise<void> {
    if (!this.shuttingDown) {
      this.draining = true;
      this.stopAccepting();
    }
    if (!this.draining) return;
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.settleDrain();
    });
  }

  private stopAccepting(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    // Waiters exist only while the queue is empty, so they get nothing more even when draining.
    for (const resolve of this.waiters.splice(0)) resolve(undefined);
  }

  private enqueue(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(this.handOut(key));
    else this.queue.push(key);
  }

  /** Marks `key` processing synchronously, so no other `get` can take it before its worker resumes. */
  private handOut(key: string): string {
    const now = this.now();
    this.metrics?.get((now - (this.dirty.get(key) ?? now)) / 1000);
    this.dirty.delete(key);
    this.processing.set(key, now);
    return key;
  }

  private settleDrain(): void {
    if (!this.draining || this.queue.length > 0 || this.processing.size > 0) return;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private inFlight(): InFlightWork {
    const now = this.now();
    let unfinishedSeconds = 0;
    let longestRunningSeconds = 0;
    for (const started of this.processing.values()) {
      const seconds = Math.max(0, now - started) / 1000;
      unfinishedSeconds += seconds;
      longestRunningSeconds = Math.max(longestRunningSeconds, seconds);
    }
    return { unfinishedSeconds, longestRunningSeconds };
  }
}
