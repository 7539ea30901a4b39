// The reconcile loop without a server: what each outcome does to the key, one worker per key, and which events enqueue.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { Controller, TerminalError, type Reconcile } from '../../../src/kube/controller';
import type { EventHandler } from '../../../src/kube/informer';
import { ControllerMetrics } from '../../../src/kube/metrics';
import { ItemExponentialRateLimiter } from '../../../src/kube/rate-limiter';
import type { Resource } from '../../../src/kube/resource-kind';
import { waitFor } from '../../support/wait';

function harness(reconcile: Reconcile, workers = 1) {
  const metrics = new ControllerMetrics();
  const controller = new Controller({ name: 'test', reconcile, workers, metrics, rateLimiter: new ItemExponentialRateLimiter(1, 20) });
  return { controller, metrics };
}

const metricValue = async (metrics: ControllerMetrics, result: string) => {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith('controller_runtime_reconcile_total') && l.includes(`result="${result}"`));
  return Number(line?.split(' ').pop() ?? 0);
};

describe('Controller', () => {
  it('retries a failing key with backoff until it succeeds, then forgets it', async () => {
    let calls = 0;
    const { controller, metrics } = harness(async () => {
      if (++calls < 4) throw new Error('transient');
    });
    controller.start();
    controller.queue.add('a');
    await waitFor('success after retries', () => calls === 4);
    await waitFor('counted', async () => (await metricValue(metrics, 'success')) === 1);
    assert.equal(await metricValue(metrics, 'error'), 3);
    assert.equal(controller.queue.numRequeues('a'), 0, 'success resets the backoff');
    assert.ok(await controller.stop(1000));
  });

  it('never requeues a TerminalError, and requeues a 409 Conflict', async () => {
    const calls = new Map<string, number>();
    const { controller } = harness(async (key) => {
      const n = (calls.get(key) ?? 0) + 1;
      calls.set(key, n);
      if (key === 'terminal') throw new TerminalError('bad spec');
      if (key === 'conflict' && n === 1) throw new ApiException(409, 'Conflict', '{}', {});
    });
    controller.start();
    controller.queue.add('terminal');
    controller.queue.add('conflict');
    await waitFor('conflict retried', () => calls.get('conflict') === 2);
    assert.equal(calls.get('terminal'), 1);
    assert.equal(controller.queue.len(), 0);
    assert.ok(await controller.stop(1000));
  });

  it('comes back after requeueAfterMs', async () => {
    const times: number[] = [];
    const { controller } = harness(async () => {
      times.push(performance.now());
      return times.length === 1 ? { requeueAfterMs: 50 } : undefined;
    });
    controller.start();
    controller.queue.add('a');
    await waitFor('second pass', () => times.length === 2);
    assert.ok(times[1]! - times[0]! >= 45, `came back after ${times[1]! - times[0]!} ms`);
    assert.ok(await controller.stop(1000));
  });

  it('never runs one key on two workers at once, and re-runs a key added while it was running', async () => {
    let running = 0;
    let overlap = false;
    let runs = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { controller } = harness(async () => {
      running++;
      if (running > 1) overlap = true;
      runs++;
      if (runs === 1) await gate;
      running--;
    }, 4);
    controller.start();
    controller.queue.add('a');
    await waitFor('first run started', () => runs === 1);
    controller.queue.add('a');
    controller.queue.add('a');
    await new Promise((r) => setImmediate(r));
    assert.equal(runs, 1, 'a second worker took the key while it was running');
    release();
    await waitFor('re-run after done', () => runs === 2);
    assert.ok(!overlap);
    assert.ok(await controller.stop(1000));
    assert.equal(runs, 2, 'two adds while running collapse into one re-run');
  });

  it('graceful stop waits for an in-flight reconcile within the grace period, and reports one that overruns', async () => {
    let finished = false;
    const { controller } = harness(async () => {
      await new Promise((r) => setTimeout(r, 50));
      finished = true;
    });
    controller.start();
    controller.queue.add('a');
    await waitFor('started', () => controller.queue.len() === 0);
    assert.ok(await controller.stop(2000));
    assert.ok(finished);

    const slow = harness(() => new Promise(() => undefined)).controller;
    slow.start();
    slow.queue.add('stuck');
    await waitFor('stuck taken', () => slow.queue.len() === 0);
    assert.equal(await slow.stop(50), false);
  });

  it('with the generation predicate, passes spec changes and deletion but not status-only updates or resyncs', async () => {
    const { controller } = harness(async () => undefined);
    let handler: EventHandler<Resource> = {};
    controller.watch<Resource>({ addHandler: (h) => (handler = h) }, { generationChanged: true });
    const v1: Resource = { metadata: { name: 'p', generation: 1, resourceVersion: '1' } };
    const statusOnly: Resource = { metadata: { name: 'p', generation: 1, resourceVersion: '2' } };
    const specChange: Resource = { metadata: { name: 'p', generation: 2, resourceVersion: '3' } };
    const deleting: Resource = { metadata: { name: 'p', generation: 2, resourceVersion: '4', deletionTimestamp: '2026-11-30T00:00:00Z' } };
    handler.update?.(v1, statusOnly);
    handler.update?.(v1, v1);
    assert.equal(controller.queue.len(), 0);
    handler.update?.(statusOnly, specChange);
    assert.equal(controller.queue.len(), 1);
    controller.queue.done((await controller.queue.get())!);
    handler.update?.(specChange, deleting);
    assert.equal(controller.queue.len(), 1);
    controller.queue.shutDown();
  });

  it('maps an event to other keys (a node record wakes its plan)', () => {
    const { controller } = harness(async () => undefined);
    let handler: EventHandler<Resource> = {};
    controller.watch<Resource>({ addHandler: (h) => (handler = h) }, { map: (o) => [o.metadata.labels?.plan ?? ''] });
    handler.add?.({ metadata: { name: 'node-1', labels: { plan: 'plan-a' } } });
    handler.add?.({ metadata: { name: 'node-2', labels: { plan: 'plan-a' } } });
    assert.equal(controller.queue.len(), 1, 'both map to one queued key');
    controller.queue.shutDown();
  });
});
