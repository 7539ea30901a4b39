import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { microTime, v1MicroTime } from '../../../src/kube/micro-time';

// RFC 3339 as Kubernetes writes it: four-digit years only.
const dates = fc.date({ min: new Date('0001-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true });
const MICRO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

describe('microTime', () => {
  it('formats a known instant with six fractional digits', () => {
    assert.equal(microTime(new Date(Date.UTC(2026, 10, 30, 22, 19, 21, 123))), '2026-11-30T22:19:21.123000Z');
    assert.equal(microTime(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 0))), '2026-01-02T03:04:05.000000Z');
  });

  it('always has six fractional digits, is UTC and round-trips the millisecond value', () => {
    fc.assert(
      fc.property(dates, (date) => {
        const text = microTime(date);
        assert.match(text, MICRO);
        assert.equal(new Date(text).getTime(), date.getTime());
        assert.equal(text.slice(0, 19), date.toISOString().slice(0, 19));
      }),
    );
  });

  it('defaults to now', () => {
    const before = Date.now();
    const at = new Date(microTime()).getTime();
    assert.ok(at >= before && at <= Date.now());
  });
});

describe('v1MicroTime', () => {
  it('serializes to JSON exactly as microTime does (what client-node puts on the wire)', () => {
    fc.assert(
      fc.property(dates, (date) => {
        assert.equal(JSON.stringify({ t: v1MicroTime(date) }), JSON.stringify({ t: microTime(date) }));
      }),
    );
  });

  it('a plain Date would serialize only three digits (why the wrapper exists)', () => {
    assert.doesNotMatch(JSON.parse(JSON.stringify(new Date())) as string, MICRO);
  });
});
