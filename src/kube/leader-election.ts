// Leader election on a coordination.k8s.io/v1 Lease, client-go's algorithm (tools/leaderelection): client-node has
// none. Expiry of someone else's lease is measured on our monotonic clock from when we last saw the record change,
// never by comparing their renewTime with our wall clock (clocks skew). Once leadership is lost the elector is done:
// the process is expected to exit, because it cannot prove that nothing of its own still writes.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  CoordinationV1Api,
  Observable,
  type ConfigurationOptions,
  type KubeConfig,
  type ObservableMiddleware,
  type V1Lease,
  type V1LeaseSpec,
} from '@kubernetes/client-node';
import { sleep } from './backoff';
import { errorSummary, silentLogger, type Logger } from './log';
import { v1MicroTime } from './micro-time';
import { apiClient } from './connections';

export interface LeaderElectorOptions {
  kc: KubeConfig;
  namespace: string;
  /** Name of the Lease. */
  name: string;
  /** Unique per process: `defaultIdentity()`. */
  identity: string;
  /** How long standbys wait after the last observed change before taking over (default 15 s). */
  leaseDurationMs?: number;
  /** The leader steps down when no renewal succeeded for this long (default 10 s). */
  renewDeadlineMs?: number;
  /** Interval between acquire attempts (jittered) and between renewals (default 2 s). */
  retryPeriodMs?: number;
  log?: Logger;
  onStartedLeading?(): void;
  /** Called once when leadership ends, lost or by stop(). */
  onStoppedLeading?(): void;
  /** Called whenever the observed holder changes to a non-empty identity (ours included). */
  onNewLeader?(identity: string): void;
}

/** client-go's JitterFactor: acquire attempts wait retryPeriod × [1, 2.2). */
const JITTER_FACTOR = 1.2;

/** `<pod or host name>_<random>`: a restarted pod must not pass for its previous incarnation. */
export function defaultIdentity(): string {
  return `${process.env.POD_NAME || hostname()}_${randomBytes(6).toString('hex')}`;
}

type Attempt = 'leading' | 'held-by-other' | 'failed';

const now = (): number => performance.now();

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** Request options that abort the request with `signal` (client-node takes no signal otherwise). */
function abortable(signal: AbortSignal): ConfigurationOptions<ObservableMiddleware> {
  const middleware: ObservableMiddleware = {
    pre: (request) => {
      request.setSignal(signal);
      return new Observable(Promise.resolve(request));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly log: Logger;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly leaseDurationSeconds: number;
  private readonly stopping = new AbortController();
  private releaseOnStop = true;
  private running: Promise<void> | undefined;
  private leading = false;
  /**
   * Monotonic time at which the last successful acquire or renew was *sent*: standbys saw the write no earlier, so
   * counting the deadline from here keeps us from leading past what they grant us.
   */
  private renewedAt = 0;
  private observedKey: string | undefined;
  /** Monotonic time at which the Lease record was last seen to change. */
  private observedAt = 0;
  private reportedLeader: string | undefined;
  private lostReason: string | undefined;
  /** Monotonic time of the last answer from the apiserver that was not an error (a 409 counts: it answered). */
  private lastContactAt = now();
  private lastError: string | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    const { leaseDurationMs = 15_000, renewDeadlineMs = 10_000, retryPeriodMs = 2_000 } = options;
    for (const [key, value] of Object.entries({ leaseDurationMs, renewDeadlineMs, retryPeriodMs })) {
      if (!Number.isFinite(value) || value <= 0) throw new Error(`LeaderElector: ${key} must be a positive number of milliseconds, got ${value}`);
    }
    if (leaseDurationMs <= renewDeadlineMs) {
      throw new Error(`LeaderElector: leaseDurationMs (${leaseDurationMs}) must be greater than renewDeadlineMs (${renewDeadlineMs})`);
    }
    if (renewDeadlineMs <= JITTER_FACTOR * retryPeriodMs) {
      throw new Error(
        `LeaderElector: renewDeadlineMs (${renewDeadlineMs}) must be greater than ${JITTER_FACTOR} × retryPeriodMs (${retryPeriodMs})`,
      );
    }
    for (const key of ['namespace', 'name', 'identity'] as const) {
      if (!options[key]) throw new Error(`LeaderElector: ${key} must not be empty`);
    }
    this.renewDeadlineMs = renewDeadlineMs;
    this.retryPeriodMs = retryPeriodMs;
    // The Lease holds whole seconds; rounding up keeps standbys waiting at least as long as we assume.
    this.leaseDurationSeconds = Math.ceil(leaseDurationMs / 1000);
    this.api = apiClient(options.kc, CoordinationV1Api);
    this.log = (options.log ?? silentLogger).child({ lease: `${options.namespace}/${options.name}`, identity: options.identity });
  }

  /** True while leading and the last successful renewal is within the renew deadline. */
  isLeader(): boolean {
    return this.leading && now() - this.renewedAt < this.renewDeadlineMs;
  }

  /**
   * For /readyz: false once leadership is lost, or when the apiserver has not answered the elector for longer than
   * the renew deadline (a standby that cannot see the Lease could not take over either).
   */
  health(): { ok: boolean; reason?: string } {
    if (this.lostReason) return { ok: false, reason: `leadership lost: ${this.lostReason}` };
    if (this.lastError && now() - this.lastContactAt > this.renewDeadlineMs) return { ok: false, reason: `cannot reach the Lease: ${this.lastError}` };
    return { ok: true };
  }

  /** Campaigns, then leads; resolves when leadership is lost or stop() is called. Never rejects for API errors. */
  run(): Promise<void> {
    if (this.running) throw new Error('LeaderElector.run() may be called only once: after losing the lease the process should exit');
    this.running = this.campaign();
    return this.running;
  }

  /**
   * Stops campaigning or leading and waits for run() to finish. With `release` (the default) a leader writes an empty
   * holder with a 1 s duration so a standby takes over at once; `release: false` just stops renewing, as a killed
   * or paused leader would.
   */
  async stop({ release = true }: { release?: boolean } = {}): Promise<void> {
    this.releaseOnStop = release;
    this.stopping.abort();
    await this.running;
  }

  private async campaign(): Promise<void> {
    const stop = this.stopping.signal;
    this.log.info('campaigning for leadership');
    let acquired = false;
    while (!stop.aborted && !acquired) {
      this.renewedAt = now();
      acquired = (await this.tryAcquireOrRenew(this.renewDeadlineMs)) === 'leading';
      if (!acquired) await sleep(this.retryPeriodMs * (1 + JITTER_FACTOR * Math.random()), stop);
    }
    if (stop.aborted) {
      // stop() raced a successful acquire: give the Lease back rather than make standbys wait for it to expire.
      if (acquired && this.releaseOnStop) await this.release();
      return;
    }
    this.leading = true;
    this.log.info('started leading');
    this.callback('onStartedLeading');

    const lost = await this.renew();
    this.leading = false;
    this.lostReason = lost;
    if (lost) this.log.error({ reason: lost }, 'leadership lost');
    else this.log.info('stopped leading');
    this.callback('onStoppedLeading');
    if (!lost && this.releaseOnStop) await this.release();
  }

  /** Renews every retry period; returns why leadership was lost, or undefined when stop() ended it. */
  private async renew(): Promise<string | undefined> {
    const stop = this.stopping.signal;
    for (;;) {
      const deadline = this.renewedAt + this.renewDeadlineMs;
      await sleep(Math.max(0, Math.min(this.retryPeriodMs, deadline - now())), stop);
      if (stop.aborted) return undefined;
      if (now() >= deadline) return `no successful renewal within ${this.renewDeadlineMs} ms`;
      // The attempt is cut off at the deadline, so a late reply never extends a leadership we already gave up.
      const startedAt = now();
      const result = await this.tryAcquireOrRenew(deadline - startedAt);
      if (stop.aborted) return undefined;
      if (result === 'leading') this.renewedAt = startedAt;
      else if (result === 'held-by-other') return `the Lease is held by ${this.reportedLeader ?? 'someone else'}`;
    }
  }

  /** One get-then-create-or-update round; `timeoutMs` bounds it, stop() aborts it. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<Attempt> {
    const result = await this.attempt(timeoutMs);
    if (result !== 'failed') this.answered();
    return result;
  }

  private answered(): void {
    this.lastContactAt = now();
    this.lastError = undefined;
  }

  private async attempt(timeoutMs: number): Promise<Attempt> {
    const { namespace, name, identity } = this.options;
    try {
      const options = abortable(AbortSignal.any([this.stopping.signal, AbortSignal.timeout(Math.max(1, Math.ceil(timeoutMs)))]));
      let lease = await this.read(options);
      if (!lease) {
        try {
          const created = await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: this.spec(undefined) } }, options);
          this.observe(created);
          return 'leading';
        } catch (err) {
          if (statusOf(err) !== 409) throw err;
          // Someone else created it between our read and create.
          lease = await this.read(options);
          if (!lease) return 'failed';
        }
      }
      this.observe(lease);
      const holder = lease.spec?.holderIdentity ?? '';
      if (holder && holder !== identity && this.othersLeaseValid(lease.spec)) return 'held-by-other';
      // The update carries the observed resourceVersion: a concurrent writer makes it fail with 409.
      const updated = await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: this.spec(lease.spec) } }, options);
      this.observe(updated);
      return 'leading';
    } catch (err) {
      if (statusOf(err) === 409) {
        this.log.debug('lost a race for the Lease');
        this.answered();
      } else if (!this.stopping.signal.aborted) {
        this.lastError = errorSummary(err);
        this.log.warn({ err: this.lastError }, 'Lease acquire/renew failed; retrying');
      }
      return 'failed';
    }
  }

  private async read(options: ConfigurationOptions<ObservableMiddleware>): Promise<V1Lease | undefined> {
    try {
      return await this.api.readNamespacedLease({ name: this.options.name, namespace: this.options.namespace }, options);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /** Our record: a renewal keeps acquireTime and leaseTransitions; a takeover sets acquireTime and bumps the count. */
  private spec(old: V1LeaseSpec | undefined): V1LeaseSpec {
    const at = v1MicroTime();
    const ours = old?.holderIdentity === this.options.identity;
    return {
      ...old,
      holderIdentity: this.options.identity,
      leaseDurationSeconds: this.leaseDurationSeconds,
      renewTime: at,
      acquireTime: ours ? old?.acquireTime : at,
      leaseTransitions: old === undefined ? 0 : ours ? (old.leaseTransitions ?? 0) : (old.leaseTransitions ?? 0) + 1,
    };
  }

  private othersLeaseValid(spec: V1LeaseSpec | undefined): boolean {
    const seconds = spec?.leaseDurationSeconds ?? this.leaseDurationSeconds;
    return now() < this.observedAt + seconds * 1000;
  }

  private observe(lease: V1Lease): void {
    const spec = lease.spec;
    // renewTime comes back as the server's string (client-node does not parse V1MicroTime); compare it as given.
    const key = JSON.stringify([spec?.holderIdentity, spec?.renewTime, spec?.leaseDurationSeconds, lease.metadata?.resourceVersion]);
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observedAt = now();
    }
    const holder = spec?.holderIdentity;
    if (holder && holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      this.log.info({ leader: holder }, 'new leader observed');
      this.callback('onNewLeader', holder);
    }
  }

  /** client-go's tryRelease: an empty holder with a 1 s duration, only if the Lease is still ours. */
  private async release(): Promise<void> {
    const { namespace, name, identity } = this.options;
    try {
      const options = abortable(AbortSignal.timeout(Math.ceil(this.renewDeadlineMs)));
      const lease = await this.read(options);
      if (lease?.spec?.holderIdentity !== identity) return;
      const at = v1MicroTime();
      const spec: V1LeaseSpec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: at, acquireTime: at };
      await this.api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec } }, options);
      this.log.info('released the Lease');
    } catch (err) {
      this.log.warn({ err: errorSummary(err) }, 'could not release the Lease; standbys will wait for it to expire');
    }
  }

  private callback(which: 'onStartedLeading' | 'onStoppedLeading' | 'onNewLeader', identity = ''): void {
    try {
      if (which === 'onNewLeader') this.options.onNewLeader?.(identity);
      else this.options[which]?.();
    } catch (err) {
      this.log.error({ err: errorSummary(err), callback: which }, 'leader election callback threw');
    }
  }
}
