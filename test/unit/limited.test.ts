import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forEachLimited } from '../../src/util/limited';

const tick = () => new Promise((r) => setImmediate(r));

describe('forEachLimited', () => {
  it('never runs more than the limit at once, and runs every item', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      peak = Math.max(peak, ++running);
      await tick();
      running--;
      done.push(n);
    });
    assert.equal(peak, 3);
    assert.deepEqual(done.sort(), [1, 2, 3, 4, 5, 6, 7]);
  });
  it('runs the rest when one fails, then rejects with the first failure in item order', async () => {
    const done: number[] = [];
    await assert.rejects(
      forEachLimited([1, 2, 3, 4], 2, async (n) => {
        await tick();
        if (n === 2 || n === 3) throw new Error(`item ${n}`);
        done.push(n);
      }),
      /item 2/,
    );
    assert.deepEqual(done.sort(), [1, 4]);
  });
});
