// A supervised list + watch cache of one kind (client-go's reflector + indexer, small). Built on client-node's Watch
// rather than its ListWatch because that one stops for good on any error but 410, keeps raw objects with
// managedFields, and has neither resync nor a stall watchdog. Handlers must only enqueue keys.
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { Backoff, sleep } from './backoff';
import { errorSummary, silentLogger, type Logger } from './log';
import { requestJson } from './raw-request';
import { collectionPath, objectKey, type Resource, type ResourceKind } from './resource-kind';

export interface EventHandler<T> {
  add?(object: T): void;
  /** Also called by the periodic resync with old === object. */
  update?(old: T, object: T): void;
  delete?(object: T): void;
}

export interface InformerOptions<T extends Resource> {
  kc: KubeConfig;
  kind: ResourceKind<T>;
  labelSelector?: string;
  fieldSelector?: string;
  log?: Logger;
  /** Re-deliver every cached object to update handlers this often (0 = never). */
  resyncMs?: number;
  /** Restart a watch that delivered nothing, not even a bookmark, for this long. */
  watchdogMs?: number;
  /** Reconnect backoff after errors. */
  backoff?: { initialMs: number; maxMs: number };
  pageSize?: number;
}

export interface InformerHealth {
  ok: boolean;
  reason?: string;
}

type WatchOutcome = { kind: 'closed'; events: number } | { kind: 'expired' } | { kind: 'error'; error: unknown };

const isGone = (err: unknown): boolean => {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  return e?.code === 410 || e?.statusCode === 410;
};

/** A watch that ends this soon after connecting with no event is treated as a failure (no tight reconnect loop). */
const MIN_HEALTHY_WATCH_MS = 1000;

export class Informer<T extends Resource> {
  private readonly cache = new Map<string, T>();
  /** Objects the apiserver holds but that do not parse, by key: why (consumers must not take them for absent). */
  private readonly invalid = new Map<string, string>();
  private readonly handlers: EventHandler<T>[] = [];
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly stopping = new AbortController();
  private resourceVersion = '';
  private synced = false;
  private lastError: string | undefined;
  private running: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private syncWaiters: (() => void)[] = [];
  /** Counters for tests and metrics: how the informer got its data. */
  readonly stats = { lists: 0, relistsAfterGone: 0, watches: 0, watchdogRestarts: 0, parseErrors: 0 };

  constructor(private readonly options: InformerOptions<T>) {
    this.log = (options.log ?? silentLogger).child({ informer: options.kind.plural });
    this.backoff = new Backoff({ initialMs: options.backoff?.initialMs ?? 800, maxMs: options.backoff?.maxMs ?? 30_000 });
  }

  get kind(): ResourceKind<T> {
    return this.options.kind;
  }

  addHandler(handler: EventHandler<T>): void {
    this.handlers.push(handler);
  }

  start(): void {
    if (this.running || this.stopping.signal.aborted) return;
    this.running = this.run();
    const resyncMs = this.options.resyncMs ?? 5 * 60_000;
    if (resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.resync(), resyncMs);
      this.resyncTimer.unref();
    }
  }

  /** Stops for good: a stopped informer never restarts, whatever its watch reports afterwards. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearInterval(this.resyncTimer);
    this.syncWaiters.forEach((wake) => wake());
    this.syncWaiters = [];
    await this.running;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  /** Why the object of this name is not in the cache although it exists (it does not parse); undefined otherwise. */
  problem(name: string, namespace?: string): string | undefined {
    return this.invalid.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** True once the first full list has been delivered (client-go's HasSynced); stays true through later reconnects. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced, false if stopped (or `signal` aborted) first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.stopping.signal.aborted || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = (): void => {
        signal?.removeEventListener('abort', wake);
        resolve(this.synced);
      };
      this.syncWaiters.push(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }

  /** Ready means synced and not currently failing to list or watch; the reason names the resource and the error. */
  health(): InformerHealth {
    if (this.lastError) return { ok: false, reason: `${this.options.kind.plural}: ${this.lastError}` };
    if (!this.synced) return { ok: false, reason: `${this.options.kind.plural}: not synced yet` };
    return { ok: true };
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    let needList = true;
    while (!signal.aborted) {
      if (needList) {
        try {
          await this.relist();
          needList = false;
        } catch (err) {
          if (signal.aborted) break;
          await this.failed('list', err);
          continue;
        }
      }
      const connectedAt = Date.now();
      const outcome = await this.watchOnce();
      if (signal.aborted) break;
      if (outcome.kind === 'expired') {
        // Our resourceVersion was compacted away: only a fresh list can resume (client-go relists at once).
        this.log.info({ resourceVersion: this.resourceVersion }, 'watch expired (410 Gone): relisting');
        this.stats.relistsAfterGone++;
        needList = true;
      } else if (outcome.kind === 'error') {
        await this.failed('watch', outcome.error);
      } else if (outcome.events === 0 && Date.now() - connectedAt < MIN_HEALTHY_WATCH_MS) {
        await this.failed('watch', new Error('watch closed at once without events'));
      }
    }
  }

  private async failed(what: 'list' | 'watch', err: unknown): Promise<void> {
    const delayMs = this.backoff.next();
    this.lastError = `${what} failed: ${errorSummary(err)}`;
    this.log.warn({ attempt: this.backoff.attempts, retryInMs: delayMs }, `${this.options.kind.plural} ${this.lastError}`);
    await sleep(delayMs, this.stopping.signal);
  }

  private get query() {
    return { labelSelector: this.options.labelSelector, fieldSelector: this.options.fieldSelector };
  }

  /** A full paginated list replaces the cache; handlers see the difference as add / update / delete. */
  private async relist(): Promise<void> {
    const path = collectionPath(this.options.kind);
    const raw: unknown[] = [];
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = (await requestJson(this.options.kc, 'GET', path, {
        query: { ...this.query, limit: this.options.pageSize ?? 500, continue: continueToken },
        signal: this.stopping.signal,
      })) as { items?: unknown[]; metadata?: { continue?: string; resourceVersion?: string } };
      raw.push(...(page.items ?? []));
      resourceVersion ||= page.metadata?.resourceVersion ?? '';
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    if (this.stopping.signal.aborted) return;

    const fresh = new Map<string, T>();
    this.invalid.clear();
    for (const item of raw) {
      const key = objectKey(item as Resource);
      const parsed = this.parse(item, key);
      if (parsed) fresh.set(key, parsed);
    }
    const previous = new Map(this.cache);
    this.cache.clear();
    for (const [key, object] of fresh) this.cache.set(key, object);
    this.resourceVersion = resourceVersion;
    this.stats.lists++;
    this.lastError = undefined;
    this.backoff.reset();
    this.log.debug({ objects: fresh.size, resourceVersion }, 'listed');

    for (const [key, object] of fresh) {
      const old = previous.get(key);
      if (!old) this.emit('add', object);
      else if (old.metadata.resourceVersion !== object.metadata.resourceVersion) this.emit('update', object, old);
    }
    for (const [key, old] of previous) if (!fresh.has(key)) this.emit('delete', old);
    if (!this.synced) {
      this.synced = true;
      this.syncWaiters.forEach((wake) => wake());
      this.syncWaiters = [];
    }
  }

  private watchOnce(): Promise<WatchOutcome> {
    return new Promise<WatchOutcome>((resolve) => {
      let events = 0;
      let settled = false;
      let controller: AbortController | undefined;
      let watchdogFired = false;
      const watchdogMs = this.options.watchdogMs ?? 5 * 60_000;
      let watchdog: NodeJS.Timeout | undefined;
      const armWatchdog = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          watchdogFired = true;
          this.stats.watchdogRestarts++;
          this.log.warn({ watchdogMs }, 'watch silent for too long: restarting it');
          controller?.abort();
        }, watchdogMs);
      };
      const finish = (outcome: WatchOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        this.stopping.signal.removeEventListener('abort', abort);
        controller?.abort();
        resolve(outcome);
      };
      const abort = (): void => controller?.abort();
      this.stopping.signal.addEventListener('abort', abort, { once: true });

      const onEvent = (type: string, object: unknown): void => {
        if (settled) return;
        events++;
        armWatchdog();
        if (type === 'ERROR') {
          const status = object as { code?: number; message?: string };
          if (status.code === 410) finish({ kind: 'expired' });
          else finish({ kind: 'error', error: Object.assign(new Error(status.message ?? 'watch error event'), { code: status.code }) });
          return;
        }
        this.applyWatchEvent(type, object);
      };
      const onDone = (err: unknown): void => {
        if (this.stopping.signal.aborted) return finish({ kind: 'closed', events });
        if (watchdogFired) return finish({ kind: 'error', error: new Error(`no watch event for ${watchdogMs} ms`) });
        if (!err) return finish({ kind: 'closed', events });
        // client-node's inactivity timer: nothing arrived for 30 s on an idle collection. Not a failure: re-watch.
        if ((err as { name?: string }).name === 'TimeoutError') return finish({ kind: 'closed', events: Math.max(events, 1) });
        finish(isGone(err) ? { kind: 'expired' } : { kind: 'error', error: err });
      };

      this.stats.watches++;
      armWatchdog();
      // Server-side timeout spread like client-go's (5–10 min), so replicas do not reconnect in lock-step.
      const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
      new Watch(this.options.kc)
        .watch(collectionPath(this.options.kind), { ...this.query, resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds }, onEvent, onDone)
        .then(
          (c) => {
            controller = c;
            if (settled || this.stopping.signal.aborted) c.abort();
            else {
              // Connected: the error (if any) is over; keep the backoff until the watch proves healthy.
              this.lastError = undefined;
              setTimeout(() => (settled ? undefined : this.backoff.reset()), MIN_HEALTHY_WATCH_MS).unref();
            }
          },
          (err: unknown) => finish({ kind: 'error', error: err }),
        );
    });
  }

  private applyWatchEvent(type: string, raw: unknown): void {
    const rv = (raw as { metadata?: { resourceVersion?: string } } | null)?.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (type === 'BOOKMARK') return;
    const key = objectKey(raw as Resource);
    const old = this.cache.get(key);
    if (type === 'DELETED') {
      this.invalid.delete(key);
      if (old) {
        this.cache.delete(key);
        this.emit('delete', old);
      }
      return;
    }
    const object = this.parse(raw, key);
    if (!object) {
      // Kept out of the cache (consumers never act on a half-valid object), but known to exist: problem() says why.
      if (old) {
        this.cache.delete(key);
        this.emit('delete', old);
      }
      return;
    }
    this.cache.set(key, object);
    if (old) this.emit('update', object, old);
    else this.emit('add', object);
  }

  /** Strips managedFields (a large share of each object at fleet scale) and parses; invalid objects are logged and recorded, not cached. */
  private parse(raw: unknown, key: string): T | undefined {
    const metadata = (raw as { metadata?: Record<string, unknown> } | null)?.metadata;
    if (metadata) delete metadata.managedFields;
    try {
      const object = this.options.kind.parse(raw);
      this.invalid.delete(key);
      return object;
    } catch (err) {
      this.stats.parseErrors++;
      const detail = err instanceof Error ? err.message : String(err);
      this.invalid.set(key, `${this.options.kind.kind} ${key} does not parse: ${detail}`.slice(0, 1024));
      this.log.error({ object: metadata?.name }, `ignoring invalid ${this.options.kind.kind}: ${detail}`);
      return undefined;
    }
  }

  private resync(): void {
    if (!this.synced || this.stopping.signal.aborted) return;
    for (const object of this.cache.values()) this.emit('update', object, object);
  }

  private emit(verb: 'add' | 'update' | 'delete', object: T, old?: T): void {
    for (const handler of this.handlers) {
      try {
        if (verb === 'add') handler.add?.(object);
        else if (verb === 'update') handler.update?.(old ?? object, object);
        else handler.delete?.(object);
      } catch (err) {
        this.log.error({ err }, `${verb} handler threw (handlers must only enqueue)`);
      }
    }
  }
}
