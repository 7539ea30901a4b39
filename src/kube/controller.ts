// The reconcile loop (controller-runtime's Controller, small): informer events become keys in a work queue; N workers
// run a level-triggered reconcile per key; the result decides when the key comes back.
import { randomUUID } from 'node:crypto';
import { isConflict } from './retry';
import type { EventHandler } from './informer';
import { errorSummary, silentLogger, type Logger } from './log';
import type { ControllerMetrics } from './metrics';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter';
import { objectKey, type Resource } from './resource-kind';
import { WorkQueue } from './workqueue';

export interface ReconcileResult {
  /** Come back after this long even if nothing changes (a timed pause, a timeout, the next window). */
  requeueAfterMs?: number;
}

export interface ReconcileContext {
  log: Logger;
  reconcileID: string;
}

export type Reconcile = (key: string, ctx: ReconcileContext) => Promise<ReconcileResult | void>;

/** An error no retry can fix (bad input the user must change): logged and counted, never requeued. */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

export interface ControllerOptions {
  name: string;
  reconcile: Reconcile;
  workers?: number;
  log?: Logger;
  metrics?: ControllerMetrics;
  rateLimiter?: RateLimiter;
}

export interface WatchOptions<T> {
  /** Keys to enqueue for an object (default: the object's own key). Lets one kind's changes wake another's owner. */
  map?: (object: T) => string[];
  /** Pass updates only when metadata.generation changed or deletion started: status-only writes do not wake spec work. */
  generationChanged?: boolean;
}

export class Controller {
  readonly queue: WorkQueue;
  private readonly log: Logger;
  private workers: Promise<void>[] = [];

  constructor(private readonly options: ControllerOptions) {
    this.log = (options.log ?? silentLogger).child({ controller: options.name });
    this.queue = new WorkQueue({
      name: options.name,
      rateLimiter: options.rateLimiter ?? defaultControllerRateLimiter(),
      metrics: options.metrics?.workQueue(options.name),
    });
    options.metrics?.addController(options.name);
  }

  get name(): string {
    return this.options.name;
  }

  /** Enqueues keys for the informer's events; handlers do no I/O. */
  watch<T extends Resource>(informer: { addHandler(handler: EventHandler<T>): void }, options: WatchOptions<T> = {}): void {
    const enqueue = (object: T): void => {
      for (const key of options.map ? options.map(object) : [objectKey(object)]) this.queue.add(key);
    };
    informer.addHandler({
      add: enqueue,
      delete: enqueue,
      update: (old, object) => {
        if (options.generationChanged && !generationChanged(old, object)) return;
        enqueue(object);
      },
    });
  }

  /** Starts the workers; they run until stop(). */
  start(): void {
    if (this.workers.length > 0) return;
    const count = Math.max(1, this.options.workers ?? 1);
    for (let i = 0; i < count; i++) this.workers.push(this.worker());
    this.log.info({ workers: count }, 'controller started');
  }

  /** Stops taking work; in-flight reconciles get `graceMs` to finish. Resolves true if they all did. */
  async stop(graceMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const drained = this.queue.shutDownWithDrain().then(() => true);
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)));
    const finished = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    this.queue.shutDown();
    if (finished) await Promise.all(this.workers);
    return finished;
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.process(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string): Promise<void> {
    const reconcileID = randomUUID();
    const log = this.log.child({ key, reconcileID });
    const started = performance.now();
    let result: 'success' | 'error' | 'requeue_after';
    try {
      const outcome = await this.options.reconcile(key, { log, reconcileID });
      if (outcome?.requeueAfterMs !== undefined && outcome.requeueAfterMs > 0) {
        this.queue.forget(key);
        this.queue.addAfter(key, outcome.requeueAfterMs);
        result = 'requeue_after';
      } else {
        this.queue.forget(key);
        result = 'success';
      }
    } catch (err) {
      result = 'error';
      if (err instanceof TerminalError) {
        this.queue.forget(key);
        log.error(`reconcile failed for good: ${err.message}`);
      } else if (isConflict(err)) {
        // Someone wrote first: the next pass re-reads from the cache. Expected under concurrency, not an error to shout about.
        log.debug('conflict: retrying with fresh state');
        this.queue.addRateLimited(key);
      } else {
        this.queue.addRateLimited(key);
        log.error({ retries: this.queue.numRequeues(key) }, `reconcile failed: ${errorSummary(err)}`);
      }
    }
    this.options.metrics?.reconcileDone(this.options.name, result, (performance.now() - started) / 1000);
  }
}

function generationChanged(old: Resource, object: Resource): boolean {
  if (old === object) return false; // a resync delivers the same object: nothing new to act on
  if (!old.metadata.deletionTimestamp && object.metadata.deletionTimestamp) return true;
  return old.metadata.generation !== object.metadata.generation;
}
