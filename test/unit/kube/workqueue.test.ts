import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ItemExponentialRateLimiter } from '../../../src/kube/rate-limiter';
import { WorkQueue } from '../../../src/kube/workqueue';

/** Lets `n` rounds of microtasks run, so the simulated workers and the producer interleave. */
async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

/** Whether `promise` has settled once pending microtasks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await ticks(5);
  return done;
}

// A broken queue tends to leave a worker waiting forever: fail in seconds instead of hanging (the suite takes ~0.1 s).
describe('WorkQueue', { timeout: 5000 }, () => {
  it('hands keys out in FIFO order and queues a key at most once', async () => {
    const q = new WorkQueue({ name: 't' });
    for (const key of ['a', 'b', 'a', 'c', 'b']) q.add(key);
    assert.equal(q.len(), 3);
    assert.deepEqual([await q.get(), await q.get(), await q.get()], ['a', 'b', 'c']);
    assert.equal(q.len(), 0);
    q.shutDown();
  });

  it('a key added while processing is not handed out again until done, then it is', async () => {
    const q = new WorkQueue({ name: 't' });
    q.add('a');
    assert.equal(await q.get(), 'a');
    q.add('a');
    q.add('a');
    assert.equal(q.len(), 0, 'not queued while in flight');
    const second = q.get();
    assert.equal(await settled(second), false, 'a second worker must not get the key in flight');
    q.done('a');
    assert.equal(await second, 'a');
    q.done('a');
    assert.equal(q.len(), 0, 'the two adds during processing collapse into one');
    q.shutDown();
  });

  it('several waiting workers each get a different key', async () => {
    const q = new WorkQueue({ name: 't' });
    const gets = [q.get(), q.get(), q.get()];
    q.add('a');
    q.add('b');
    assert.deepEqual(await Promise.all(gets.slice(0, 2)), ['a', 'b']);
    assert.equal(await settled(gets[2]!), false);
    q.shutDown();
    assert.equal(await gets[2], undefined);
  });

  it('property: N workers never hold one key at once, and every key is processed after its last add', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd'), gap: fc.nat(4) }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat(6), { minLength: 1, maxLength: 20 }),
        async (workers, adds, workTicks) => {
          const q = new WorkQueue({ name: 'prop' });
          let clock = 0;
          const lastAdd = new Map<string, number>();
          const lastStart = new Map<string, number>();
          const inFlight = new Set<string>();
          let processed = 0;
          const worker = async (): Promise<void> => {
            for (let key = await q.get(); key !== undefined; key = await q.get()) {
              assert.ok(!inFlight.has(key), `${key} handed to two workers`);
              inFlight.add(key);
              lastStart.set(key, ++clock);
              await ticks(workTicks[processed++ % workTicks.length]!);
              inFlight.delete(key);
              q.done(key);
            }
          };
          const running = Array.from({ length: workers }, worker);
          for (const { key, gap } of adds) {
            await ticks(gap);
            q.add(key);
            lastAdd.set(key, ++clock);
          }
          await q.shutDownWithDrain();
          await Promise.all(running);
          assert.equal(inFlight.size, 0);
          for (const [key, added] of lastAdd) {
            assert.ok((lastStart.get(key) ?? 0) > added, `${key} not processed after its last add`);
          }
        },
      ),
    );
  });

  it('shutDown wakes waiting workers with undefined and ignores later adds', async () => {
    const q = new WorkQueue({ name: 't' });
    const waiting = [q.get(), q.get()];
    q.shutDown();
    assert.deepEqual(await Promise.all(waiting), [undefined, undefined]);
    q.add('a');
    q.addAfter('a', 0);
    assert.equal(q.len(), 0);
    assert.equal(await q.get(), undefined);
  });

  it('shutDown stops handing out queued keys at once', async () => {
    const q = new WorkQueue({ name: 't' });
    q.add('a');
    q.shutDown();
    assert.equal(await q.get(), undefined);
  });

  it('shutDownWithDrain hands out queued keys and resolves only when every key in flight is done', async () => {
    const q = new WorkQueue({ name: 't' });
    q.add('a');
    q.add('b');
    assert.equal(await q.get(), 'a');
    q.add('a'); // re-added while in flight: must still be processed during the drain
    const drained = q.shutDownWithDrain();
    q.add('c');
    assert.equal(await q.get(), 'b');
    assert.equal(await settled(drained), false);
    q.done('a');
    assert.equal(await q.get(), 'a');
    q.done('b');
    assert.equal(await settled(drained), false, 'a is still in flight');
    assert.equal(await q.get(), undefined, 'c came after the shutdown');
    q.done('a');
    assert.equal(await settled(drained), true);
  });

  it('shutDown ends a drain that is taking too long', async () => {
    const q = new WorkQueue({ name: 't' });
    q.add('a');
    assert.equal(await q.get(), 'a');
    const drained = q.shutDownWithDrain();
    assert.equal(await settled(drained), false);
    q.shutDown();
    assert.equal(await settled(drained), true);
  });

  it('addAfter adds when the delay has passed; the earliest pending time per key wins', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const q = new WorkQueue({ name: 't', now: () => Date.now() });
    q.addAfter('a', 100);
    q.addAfter('a', 30); // earlier: replaces
    q.addAfter('a', 500); // later: ignored
    q.addAfter('b', 0); // at once
    assert.equal(q.len(), 1);
    t.mock.timers.tick(29);
    assert.equal(q.len(), 1);
    t.mock.timers.tick(1);
    assert.equal(q.len(), 2);
    q.add('c');
    assert.equal(q.len(), 3);
    // Nothing is left pending for a: drain the queue and let the other times pass.
    void q.get();
    void q.get();
    void q.get();
    q.done('a');
    q.done('b');
    q.done('c');
    t.mock.timers.tick(1000);
    assert.equal(q.len(), 0);
    q.shutDown();
  });

  it('addRateLimited backs a key off exponentially; forget resets it', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const q = new WorkQueue({ name: 't', rateLimiter: new ItemExponentialRateLimiter(10, 1000), now: () => Date.now() });
    q.addRateLimited('a');
    q.addRateLimited('a'); // 20 ms: later than the pending 10 ms, so ignored
    assert.equal(q.numRequeues('a'), 2);
    t.mock.timers.tick(9);
    assert.equal(q.len(), 0);
    t.mock.timers.tick(1);
    assert.equal(q.len(), 1);
    q.forget('a');
    assert.equal(q.numRequeues('a'), 0);
    q.shutDown();
  });

  it('shutDown cancels delayed adds so their timers do not keep the process alive', () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const q = new WorkQueue({ name: 't' });
    q.addAfter('a', 60_000);
    q.addAfter('b', 60_000);
    assert.equal(timers(), before + 2);
    q.shutDown();
    assert.equal(timers(), before);
  });
});
