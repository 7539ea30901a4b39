// One place that wires informers, controllers, leader election, probes and metrics, in controller-runtime's order:
// HTTP servers (standbys too) → caches synced → leader election → controllers. Losing the Lease stops reconciling at
// once and ends the process (nobody can prove no write is still in flight otherwise); SIGTERM drains and releases.
import type { KubeConfig } from '@kubernetes/client-node';
import { Controller, type ControllerOptions } from './controller';
import { ProbeServer } from './probe-server';
import { Informer, type InformerOptions } from './informer';
import { LeaderElector, defaultIdentity } from './leader-election';
import { silentLogger, type Logger } from './log';
import { ControllerMetrics } from './metrics';
import type { Resource } from './resource-kind';

export interface LeaderElectionOptions {
  namespace: string;
  /** The Lease name (controller-runtime's LeaderElectionID). */
  name: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface ManagerOptions {
  kc: KubeConfig;
  log?: Logger;
  /** host:port or :port for /metrics; '0' disables. */
  metricsBindAddress?: string;
  /** host:port or :port for /healthz and /readyz; '0' disables. */
  healthProbeBindAddress?: string;
  leaderElection?: LeaderElectionOptions;
  /** How long in-flight reconciles may run after a shutdown request. */
  gracefulShutdownMs?: number;
}

/** Why the manager stopped: a requested shutdown exits 0, a lost Lease exits 1. */
export type StopReason = 'shutdown' | 'leader-election-lost';

export class Manager {
  readonly metrics = new ControllerMetrics();
  private readonly log: Logger;
  private readonly informers: Informer<Resource>[] = [];
  private readonly controllers: Controller[] = [];
  private readonly servers: ProbeServer[] = [];
  private elector: LeaderElector | undefined;
  private readonly stopSignal = new AbortController();
  private stopReason: StopReason | undefined;
  private resolveStopped: (reason: StopReason) => void = () => undefined;
  private readonly stopped = new Promise<StopReason>((resolve) => (this.resolveStopped = resolve));
  private started = false;
  private leaderLost = false;

  constructor(private readonly options: ManagerOptions) {
    this.log = options.log ?? silentLogger;
  }

  informer<T extends Resource>(options: Omit<InformerOptions<T>, 'kc' | 'log'> & { kc?: KubeConfig }): Informer<T> {
    const informer = new Informer<T>({ ...options, kc: options.kc ?? this.options.kc, log: this.log });
    this.informers.push(informer);
    return informer;
  }

  /** Controllers run only while this replica leads (when leader election is on). */
  controller(options: Omit<ControllerOptions, 'log' | 'metrics'>): Controller {
    const controller = new Controller({ ...options, log: this.log, metrics: this.metrics });
    this.controllers.push(controller);
    return controller;
  }

  /** Healthy means the process is not on its way out after losing the Lease. */
  healthz(): { ok: boolean; reason?: string } {
    return this.leaderLost ? { ok: false, reason: 'leader election lost' } : { ok: true };
  }

  /** Ready: every informer synced and watching, and leading or standing by with a working elector. */
  readyz(): { ok: boolean; reasons: string[] } {
    const reasons = this.informers.flatMap((i) => {
      const health = i.health();
      return health.ok ? [] : [health.reason ?? 'informer not ready'];
    });
    if (this.elector) {
      const election = this.elector.health();
      if (!election.ok) reasons.push(`leader election: ${election.reason ?? 'unhealthy'}`);
    }
    if (this.leaderLost) reasons.push('leader election lost');
    return { ok: reasons.length === 0, reasons };
  }

  /** Runs until stop() or a lost Lease; resolves with the reason once everything it started has stopped. */
  async start(): Promise<StopReason> {
    if (this.started) throw new Error('manager already started');
    this.started = true;
    await this.startServers();
    for (const informer of this.informers) informer.start();
    this.log.info({ informers: this.informers.map((i) => i.kind.plural) }, 'waiting for caches to sync');
    const synced = await Promise.all(this.informers.map((i) => i.waitForSync(this.stopSignal.signal)));
    if (synced.every(Boolean) && !this.stopSignal.signal.aborted) {
      this.log.info('caches synced');
      if (this.options.leaderElection) this.startElection(this.options.leaderElection);
      else this.controllers.forEach((c) => c.start());
    }
    const reason = await this.stopped;
    await this.shutdown(reason);
    return reason;
  }

  /** Graceful stop: no new work, in-flight reconciles finish within the grace period, the Lease is released. */
  stop(): void {
    this.requestStop('shutdown');
  }

  private requestStop(reason: StopReason): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.stopSignal.abort();
    this.resolveStopped(reason);
  }

  private startElection(options: LeaderElectionOptions): void {
    this.elector = new LeaderElector({
      kc: this.options.kc,
      namespace: options.namespace,
      name: options.name,
      identity: options.identity ?? defaultIdentity(),
      leaseDurationMs: options.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs,
      log: this.log,
      onStartedLeading: () => {
        this.metrics.setLeader(options.name, true);
        this.log.info({ lease: `${options.namespace}/${options.name}` }, 'became leader: starting controllers');
        if (!this.stopSignal.signal.aborted) this.controllers.forEach((c) => c.start());
      },
      onStoppedLeading: () => {
        this.metrics.setLeader(options.name, false);
        if (this.stopReason) return; // our own release on shutdown
        this.leaderLost = true;
        // Fencing: stop handing out work now, before anything else; in-flight reconciles are not waited for.
        this.controllers.forEach((c) => c.queue.shutDown());
        this.log.error({ lease: `${options.namespace}/${options.name}` }, 'leader election lost: stopping');
        this.requestStop('leader-election-lost');
      },
      onNewLeader: (identity) => this.log.info({ leader: identity }, 'new leader observed'),
    });
    void this.elector.run();
  }

  private async shutdown(reason: StopReason): Promise<void> {
    const graceMs = reason === 'leader-election-lost' ? 0 : (this.options.gracefulShutdownMs ?? 30_000);
    const drained = await Promise.all(this.controllers.map((c) => c.stop(graceMs)));
    if (!drained.every(Boolean) && reason === 'shutdown') this.log.warn({ graceMs }, 'reconciles still running after the grace period');
    // Release only after reconciles are done: the next leader must not overlap with our last writes.
    await this.elector?.stop({ release: reason === 'shutdown' });
    await Promise.all(this.informers.map((i) => i.stop()));
    await Promise.all(this.servers.map((s) => s.close()));
    this.log.info({ reason }, 'manager stopped');
  }

  private async startServers(): Promise<void> {
    const { metricsBindAddress = '0', healthProbeBindAddress = '0' } = this.options;
    const routes = {
      metrics: async () => ({ status: 200, contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() }),
      healthz: () => {
        const { ok, reason } = this.healthz();
        return verdict(ok, reason ? [reason] : []);
      },
      readyz: () => {
        const { ok, reasons } = this.readyz();
        return verdict(ok, reasons);
      },
    };
    if (metricsBindAddress !== '0') {
      const server = new ProbeServer(metricsBindAddress, { '/metrics': routes.metrics });
      await server.listen();
      this.servers.push(server);
      this.log.info({ address: server.address }, 'serving metrics');
    }
    if (healthProbeBindAddress !== '0') {
      const server = new ProbeServer(healthProbeBindAddress, { '/healthz': routes.healthz, '/readyz': routes.readyz });
      await server.listen();
      this.servers.push(server);
      this.log.info({ address: server.address }, 'serving health probes');
    }
  }

  /** Bound addresses, for tests and logs (after start). */
  get addresses(): string[] {
    return this.servers.map((s) => s.address);
  }
}

function verdict(ok: boolean, reasons: string[]) {
  return { status: ok ? 200 : 503, contentType: 'text/plain; charset=utf-8', body: ok ? 'ok\n' : `${reasons.join('\n')}\n` };
}

/**
 * Runs a manager as a process's main job: SIGTERM, SIGINT and SIGHUP stop it gracefully. Exit code 0 after a requested
 * stop, 1 after a lost Lease (the supervisor restarts the process as a standby).
 */
export async function runUntilSignalled(manager: Manager): Promise<number> {
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  const onSignal = (): void => manager.stop();
  for (const signal of signals) process.on(signal, onSignal);
  try {
    return (await manager.start()) === 'shutdown' ? 0 : 1;
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
  }
}
