// The one prom-client registry of a process, with controller-runtime's metric names (pkg/metrics/workqueue.go,
// pkg/internal/controller/metrics, leader election) so existing dashboards and alerts work unchanged. Each instance
// owns its registry, never prom-client's global one, so tests and several managers in one process do not collide.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, exponentialBuckets } from 'prom-client';
import type { InFlightWork, WorkQueueMetrics } from './workqueue';

export type ReconcileResult = 'success' | 'error' | 'requeue' | 'requeue_after';

const RECONCILE_RESULTS: readonly ReconcileResult[] = ['success', 'error', 'requeue', 'requeue_after'];
// controller-runtime's buckets: 10 ns … 1000 s for queue times, a finer scale up to a minute for reconciles.
const QUEUE_BUCKETS = exponentialBuckets(1e-8, 10, 12);
const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60];

export class ControllerMetrics {
  private readonly depth: Gauge<'name'>;
  private readonly adds: Counter<'name'>;
  private readonly retries: Counter<'name'>;
  private readonly queueDuration: Histogram<'name'>;
  private readonly workDuration: Histogram<'name'>;
  private readonly reconcileTotal: Counter<'controller' | 'result'>;
  private readonly reconcileErrors: Counter<'controller'>;
  private readonly reconcileTime: Histogram<'controller'>;
  private readonly leader: Gauge<'name'>;
  /** Per queue name, how to read its in-flight work at scrape time. */
  private readonly inFlight = new Map<string, () => InFlightWork>();

  constructor(readonly registry: Registry = new Registry()) {
    collectDefaultMetrics({ register: registry });
    const registers = [registry];
    const queues = this.inFlight;
    this.depth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name'], registers });
    this.adds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name'], registers });
    this.retries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: ['name'],
      registers,
    });
    this.queueDuration = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: ['name'],
      buckets: QUEUE_BUCKETS,
      registers,
    });
    this.workDuration = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      labelNames: ['name'],
      buckets: QUEUE_BUCKETS,
      registers,
    });
    new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: 'How many seconds of work has been done that is in progress and hasn’t been observed by work_duration',
      labelNames: ['name'],
      registers,
      collect() {
        for (const [name, read] of queues) this.set({ name }, read().unfinishedSeconds);
      },
    });
    new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running',
      labelNames: ['name'],
      registers,
      collect() {
        for (const [name, read] of queues) this.set({ name }, read().longestRunningSeconds);
      },
    });
    this.reconcileTotal = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      buckets: RECONCILE_BUCKETS,
      registers,
    });
    this.leader = new Gauge({
      name: 'leader_election_master_status',
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
      labelNames: ['name'],
      registers,
    });
  }

  /** The sink for the queue called `name`; one queue per name, since the series are per name. */
  workQueue(name: string): WorkQueueMetrics {
    if (this.inFlight.has(name)) throw new Error(`work queue metrics for "${name}" are already registered`);
    this.inFlight.set(name, () => ({ unfinishedSeconds: 0, longestRunningSeconds: 0 }));
    const labels = { name };
    // Zero series from the start, so a queue that never saw work still shows up on /metrics.
    this.depth.set(labels, 0);
    this.adds.inc(labels, 0);
    this.retries.inc(labels, 0);
    return {
      add: () => {
        this.depth.inc(labels);
        this.adds.inc(labels);
      },
      get: (queuedSeconds) => {
        this.depth.dec(labels);
        this.queueDuration.observe(labels, queuedSeconds);
      },
      done: (workSeconds) => this.workDuration.observe(labels, workSeconds),
      retry: () => this.retries.inc(labels),
      trackInFlight: (read) => this.inFlight.set(name, read),
    };
  }

  /** Zero series for a controller, as controller-runtime does at start, so rates work from the first scrape. */
  addController(controller: string): void {
    for (const result of RECONCILE_RESULTS) this.reconcileTotal.inc({ controller, result }, 0);
    this.reconcileErrors.inc({ controller }, 0);
  }

  reconcileDone(controller: string, result: ReconcileResult, seconds: number): void {
    this.reconcileTotal.inc({ controller, result });
    if (result === 'error') this.reconcileErrors.inc({ controller });
    this.reconcileTime.observe({ controller }, seconds);
  }

  setLeader(name: string, leading: boolean): void {
    this.leader.set({ name }, leading ? 1 : 0);
  }
}
