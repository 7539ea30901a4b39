// Expectations: planning waits until the caches show our own writes, and never forever.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Expectations } from '../../../src/operator/expectations';

describe('expectations', () => {
  const write = (name: string, resourceVersion: string) => ({ kind: 'LiveUpdateNode' as const, name, resourceVersion });

  it('are met once every written object shows that resourceVersion or a later one', () => {
    const e = new Expectations();
    e.record('plan', [write('a', '100'), write('b', '101')], 0);
    const cache = new Map([['a', '99'], ['b', '101']]);
    assert.equal(e.satisfied('plan', (w) => cache.get(w.name), 10), false, 'a is still behind');
    cache.set('a', '105');
    assert.equal(e.satisfied('plan', (w) => cache.get(w.name), 20), true);
    assert.equal(e.satisfied('plan', () => '0', 30), true, 'met expectations are forgotten');
  });

  it('compare resourceVersions as integers (etcd), not as strings', () => {
    const e = new Expectations();
    e.record('plan', [write('a', '99')], 0);
    assert.equal(e.satisfied('plan', () => '100', 1), true, '"100" < "99" as strings, but not as revisions');
  });

  it('do not wait for an object that is gone, and expire after a minute', () => {
    const e = new Expectations();
    e.record('plan', [write('gone', '5')], 0);
    assert.equal(e.satisfied('plan', () => undefined, 1), true);
    e.record('plan', [write('stuck', '5')], 0);
    assert.equal(e.satisfied('plan', () => '1', 30_000), false);
    assert.equal(e.satisfied('plan', () => '1', 61_000), true);
  });

  it('are per plan', () => {
    const e = new Expectations();
    e.record('a', [write('n', '10')], 0);
    assert.equal(e.satisfied('b', () => '1', 1), true);
    assert.equal(e.satisfied('a', () => '1', 1), false);
  });
});
