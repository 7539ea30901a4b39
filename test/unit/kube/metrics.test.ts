import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { register as globalRegistry } from 'prom-client';
import { ControllerMetrics } from '../../../src/kube/metrics';
import { ItemExponentialRateLimiter } from '../../../src/kube/rate-limiter';
import { WorkQueue } from '../../../src/kube/workqueue';

/** The value of one series in the text exposition, e.g. `sample(text, 'workqueue_depth{name="plans"}')`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('ControllerMetrics', () => {
  it('exposes the controller-runtime queue, reconcile and leader metrics with their labels', async () => {
    const metrics = new ControllerMetrics();
    const clock = { t: 0 };
    const q = new WorkQueue({ name: 'plans', metrics: metrics.workQueue('plans'), now: () => clock.t });
    metrics.workQueue('nodes');
    metrics.addController('plans');

    q.add('a');
    q.add('b');
    q.add('a');
    clock.t = 2000;
    assert.equal(await q.get(), 'a');
    clock.t = 2500;
    assert.equal(await q.get(), 'b');
    clock.t = 3000;
    q.done('b');
    q.addAfter('b', 0);
    metrics.reconcileDone('plans', 'success', 0.5);
    metrics.reconcileDone('plans', 'error', 0.1);
    metrics.setLeader('liveupdate-operator', true);
    clock.t = 4000;

    const text = await metrics.registry.metrics();
    const expected: [string, number][] = [
      ['workqueue_depth{name="plans"}', 1],
      ['workqueue_depth{name="nodes"}', 0],
      ['workqueue_adds_total{name="plans"}', 3],
      ['workqueue_retries_total{name="plans"}', 1],
      ['workqueue_queue_duration_seconds_count{name="plans"}', 2],
      ['workqueue_queue_duration_seconds_sum{name="plans"}', 4.5],
      ['workqueue_work_duration_seconds_count{name="plans"}', 1],
      ['workqueue_work_duration_seconds_sum{name="plans"}', 0.5],
      // a has been running since t = 2000: read at scrape time, not when it was handed out.
      ['workqueue_unfinished_work_seconds{name="plans"}', 2],
      ['workqueue_longest_running_processor_seconds{name="plans"}', 2],
      ['workqueue_unfinished_work_seconds{name="nodes"}', 0],
      ['controller_runtime_reconcile_total{controller="plans",result="success"}', 1],
      ['controller_runtime_reconcile_total{controller="plans",result="error"}', 1],
      ['controller_runtime_reconcile_total{controller="plans",result="requeue_after"}', 0],
      ['controller_runtime_reconcile_errors_total{controller="plans"}', 1],
      ['controller_runtime_reconcile_time_seconds_count{controller="plans"}', 2],
      ['leader_election_master_status{name="liveupdate-operator"}', 1],
    ];
    for (const [series, value] of expected) assert.equal(sample(text, series), value, series);
    assert.match(text, /^process_cpu_user_seconds_total /m, 'default process metrics');

    clock.t = 5000;
    q.done('a');
    metrics.setLeader('liveupdate-operator', false);
    const later = await metrics.registry.metrics();
    assert.equal(sample(later, 'workqueue_unfinished_work_seconds{name="plans"}'), 0);
    assert.equal(sample(later, 'workqueue_longest_running_processor_seconds{name="plans"}'), 0);
    assert.equal(sample(later, 'leader_election_master_status{name="liveupdate-operator"}'), 0);
    q.shutDown();
  });

  it('sums unfinished work over keys in flight and reports the longest one', async () => {
    const metrics = new ControllerMetrics();
    const clock = { t: 0 };
    const q = new WorkQueue({ name: 'q', metrics: metrics.workQueue('q'), now: () => clock.t });
    q.add('a');
    await q.get();
    clock.t = 1000;
    q.add('b');
    await q.get();
    clock.t = 1500;
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'workqueue_unfinished_work_seconds{name="q"}'), 2);
    assert.equal(sample(text, 'workqueue_longest_running_processor_seconds{name="q"}'), 1.5);
    q.shutDown();
  });

  it('counts rate-limited adds as retries', async () => {
    const metrics = new ControllerMetrics();
    const q = new WorkQueue({ name: 'q', metrics: metrics.workQueue('q'), rateLimiter: new ItemExponentialRateLimiter(0, 0) });
    q.addRateLimited('a');
    q.addRateLimited('b');
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'workqueue_retries_total{name="q"}'), 2);
    assert.equal(sample(text, 'workqueue_adds_total{name="q"}'), 2);
    q.shutDown();
  });

  it('instances own separate registries and never touch the global one; a queue name registers once', () => {
    const one = new ControllerMetrics();
    const two = new ControllerMetrics();
    assert.notEqual(one.registry, two.registry);
    one.workQueue('plans');
    two.workQueue('plans');
    assert.throws(() => one.workQueue('plans'), /already registered/);
    assert.equal(globalRegistry.getSingleMetric('workqueue_depth'), undefined);
  });
});
