import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  ItemExponentialRateLimiter,
  MaxOfRateLimiter,
  TokenBucketRateLimiter,
  defaultControllerRateLimiter,
  type RateLimiter,
} from '../../../src/kube/rate-limiter';

describe('ItemExponentialRateLimiter', () => {
  it('property: delays double from base per failure, capped at max, and forget starts over', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 1, max: 80 }),
        (base, max, failures) => {
          const limiter = new ItemExponentialRateLimiter(base, max);
          const delays = Array.from({ length: failures }, () => limiter.when('a'));
          delays.forEach((d, i) => assert.equal(d, Math.min(max, base * 2 ** i)));
          for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! >= delays[i - 1]!, 'never shrinks');
          assert.equal(limiter.retries('a'), failures);
          limiter.forget('a');
          assert.equal(limiter.retries('a'), 0);
          assert.equal(limiter.when('a'), Math.min(max, base));
        },
      ),
    );
  });

  it('keeps keys apart and defaults to 5 ms → 1000 s', () => {
    const limiter = new ItemExponentialRateLimiter();
    assert.deepEqual([limiter.when('a'), limiter.when('a'), limiter.when('a')], [5, 10, 20]);
    assert.equal(limiter.when('b'), 5);
    for (let i = 0; i < 100; i++) limiter.when('c');
    assert.equal(limiter.when('c'), 1_000_000);
    limiter.forget('a');
    assert.equal(limiter.retries('a'), 0);
    assert.equal(limiter.retries('b'), 1);
  });
});

describe('TokenBucketRateLimiter', () => {
  it('grants the burst at once, then one token per 1/qps, going into debt for later callers', () => {
    const clock = { t: 0 };
    const limiter = new TokenBucketRateLimiter(10, 3, () => clock.t);
    assert.deepEqual(
      Array.from({ length: 5 }, () => limiter.when('x')),
      [0, 0, 0, 100, 200],
    );
    clock.t = 250; // 2.5 tokens refilled, 2 owed: half a token left
    assert.equal(limiter.when('y'), 50);
    clock.t = 10_000; // refills, but never beyond the burst
    assert.deepEqual(
      Array.from({ length: 4 }, () => limiter.when('z')),
      [0, 0, 0, 100],
    );
    limiter.forget('z');
    assert.equal(limiter.retries('z'), 0);
  });

  it('property: over a fake clock, grants in any window are bounded by burst + qps·window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 300 }),
        (qps, burst, gaps) => {
          const clock = { t: 0 };
          const limiter = new TokenBucketRateLimiter(qps, burst, () => clock.t);
          const immediate: number[] = [];
          const scheduled: number[] = [];
          for (const gap of gaps) {
            clock.t += gap;
            const delay = limiter.when('k');
            assert.ok(delay >= 0);
            if (delay === 0) immediate.push(clock.t);
            scheduled.push(clock.t + delay);
          }
          // Scheduled times are the times the callers actually go: those must respect the rate too.
          for (const times of [immediate, scheduled.sort((a, b) => a - b)]) {
            for (let i = 0; i < times.length; i++) {
              for (let j = i; j < times.length; j++) {
                const windowSeconds = (times[j]! - times[i]!) / 1000;
                assert.ok(j - i + 1 <= burst + qps * windowSeconds + 1e-6, `${j - i + 1} grants in ${windowSeconds} s`);
              }
            }
          }
        },
      ),
    );
  });

  it('rejects a rate or burst that would make every delay NaN or infinite', () => {
    assert.throws(() => new TokenBucketRateLimiter(0, 10), RangeError);
    assert.throws(() => new TokenBucketRateLimiter(10, 0), RangeError);
  });
});

describe('MaxOfRateLimiter', () => {
  it('takes the longest delay, forgets on all and reports the most retries', () => {
    const clock = { t: 0 };
    const perKey = new ItemExponentialRateLimiter(1, 1000);
    const limiter = new MaxOfRateLimiter(perKey, new TokenBucketRateLimiter(1, 2, () => clock.t));
    assert.deepEqual([limiter.when('a'), limiter.when('a'), limiter.when('a')], [1, 2, 1000]); // the bucket wins the third
    assert.equal(limiter.retries('a'), 3);
    limiter.forget('a');
    assert.equal(perKey.retries('a'), 0);
    assert.equal(new MaxOfRateLimiter().when('a'), 0);
  });

  it('the default controller limiter backs a key off from 5 ms and caps it at 1000 s', () => {
    const limiter: RateLimiter = defaultControllerRateLimiter();
    assert.equal(limiter.when('a'), 5);
    assert.equal(limiter.when('a'), 10);
    for (let i = 0; i < 40; i++) limiter.when('b');
    assert.ok(limiter.when('b') >= 1_000_000);
    assert.equal(limiter.retries('a'), 2);
  });
});
