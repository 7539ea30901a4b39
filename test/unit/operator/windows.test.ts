import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { windowProblems, windowState, type Window } from '../../../src/operator/windows';

const w = (schedule: string, duration: string, timeZone = 'UTC'): Window => ({ schedule, duration, timeZone });
const t = (iso: string) => new Date(iso);

describe('windowState', () => {
  it('is always open without windows', () => {
    assert.deepEqual(windowState([], t('2026-03-10T12:00:00Z')), { open: true });
  });

  it('opens at the fire time and closes exactly duration later', () => {
    const nightly = [w('0 2 * * *', '4h')];
    assert.deepEqual(windowState(nightly, t('2026-03-10T01:59:59.999Z')), { open: false, nextStart: t('2026-03-10T02:00:00Z') });
    assert.deepEqual(windowState(nightly, t('2026-03-10T02:00:00Z')), { open: true, closesAt: t('2026-03-10T06:00:00Z') });
    assert.deepEqual(windowState(nightly, t('2026-03-10T05:59:59.999Z')), { open: true, closesAt: t('2026-03-10T06:00:00Z') });
    assert.deepEqual(windowState(nightly, t('2026-03-10T06:00:00Z')), { open: false, nextStart: t('2026-03-11T02:00:00Z') });
  });

  it('finds the next start across days and weekdays', () => {
    const weekdays = [w('0 2 * * 1-5', '4h')];
    // 2026-03-13 is a Friday: after its window the next one is Monday's.
    assert.deepEqual(windowState(weekdays, t('2026-03-13T07:00:00Z')), { open: false, nextStart: t('2026-03-16T02:00:00Z') });
    assert.deepEqual(windowState(weekdays, t('2026-03-14T03:00:00Z')), { open: false, nextStart: t('2026-03-16T02:00:00Z') });
    assert.equal(windowState(weekdays, t('2026-03-16T03:00:00Z')).open, true);
  });

  it('is open when any window is, closing at the latest end, and otherwise names the earliest next start', () => {
    const windows = [w('0 2 * * *', '2h'), w('0 3 * * *', '3h'), w('30 22 * * *', '1h')];
    assert.deepEqual(windowState(windows, t('2026-03-10T03:30:00Z')), { open: true, closesAt: t('2026-03-10T06:00:00Z') });
    assert.deepEqual(windowState(windows, t('2026-03-10T02:30:00Z')), { open: true, closesAt: t('2026-03-10T04:00:00Z') });
    assert.deepEqual(windowState(windows, t('2026-03-10T12:00:00Z')), { open: false, nextStart: t('2026-03-10T22:30:00Z') });
    assert.deepEqual(windowState(windows, t('2026-03-10T23:30:00Z')), { open: false, nextStart: t('2026-03-11T02:00:00Z') });
  });

  it('reads the schedule in its time zone', () => {
    const at = t('2026-01-15T00:30:00Z');
    // 01:00 in Paris is 00:00 UTC in winter: open there, not yet in UTC.
    assert.deepEqual(windowState([w('0 1 * * *', '1h', 'Europe/Paris')], at), { open: true, closesAt: t('2026-01-15T01:00:00Z') });
    assert.deepEqual(windowState([w('0 1 * * *', '1h')], at), { open: false, nextStart: t('2026-01-15T01:00:00Z') });
    assert.deepEqual(windowState([w('0 1 * * *', '1h', 'America/New_York')], at), { open: false, nextStart: t('2026-01-15T06:00:00Z') });
  });

  it('follows the March DST change in Europe/Paris', () => {
    const paris = [w('0 1 * * *', '2h', 'Europe/Paris')];
    // 01:00 CET (UTC+1) on the 29th, then 01:00 CEST (UTC+2) on the 30th.
    assert.deepEqual(windowState(paris, t('2026-03-28T12:00:00Z')), { open: false, nextStart: t('2026-03-29T00:00:00Z') });
    assert.deepEqual(windowState(paris, t('2026-03-29T12:00:00Z')), { open: false, nextStart: t('2026-03-29T23:00:00Z') });
    // The duration is elapsed time: 2h after 01:00 CET is 04:00 CEST, 02:00 UTC.
    assert.deepEqual(windowState(paris, t('2026-03-29T01:30:00Z')), { open: true, closesAt: t('2026-03-29T02:00:00Z') });
    // 02:00 does not exist on the 29th: that window opens when the gap ends, 03:00 CEST.
    const inGap = [w('0 2 * * *', '1h', 'Europe/Paris')];
    assert.deepEqual(windowState(inGap, t('2026-03-28T12:00:00Z')), { open: false, nextStart: t('2026-03-29T01:00:00Z') });
    assert.deepEqual(windowState(inGap, t('2026-03-29T01:00:00Z')), { open: true, closesAt: t('2026-03-29T02:00:00Z') });
  });

  it('keeps a long window open days after it started', () => {
    // Opened Sunday 2026-03-08 at 00:00, 72h: still open on Tuesday, closed from Wednesday 00:00.
    const weekly = [w('0 0 * * 0', '72h')];
    assert.deepEqual(windowState(weekly, t('2026-03-10T12:00:00Z')), { open: true, closesAt: t('2026-03-11T00:00:00Z') });
    assert.deepEqual(windowState(weekly, t('2026-03-11T00:00:00Z')), { open: false, nextStart: t('2026-03-15T00:00:00Z') });
  });

  // An oracle independent of croner: UTC schedules "M H * * D" with M a number, H a number or *, D * or a range.
  const simpleWindow = fc.record({
    minute: fc.integer({ min: 0, max: 59 }),
    hour: fc.option(fc.integer({ min: 0, max: 23 }), { nil: undefined }),
    days: fc.option(
      fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 })).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const),
      { nil: undefined },
    ),
    minutes: fc.integer({ min: 1, max: 72 * 60 }),
  });
  type Simple = typeof simpleWindow extends fc.Arbitrary<infer T> ? T : never;
  const toWindow = (s: Simple): Window => w(`${s.minute} ${s.hour ?? '*'} * * ${s.days ? s.days.join('-') : '*'}`, `${s.minutes}m`);
  const fires = (s: Simple, minuteStart: Date): boolean =>
    minuteStart.getUTCMinutes() === s.minute &&
    (s.hour === undefined || minuteStart.getUTCHours() === s.hour) &&
    (s.days === undefined || (minuteStart.getUTCDay() >= s.days[0] && minuteStart.getUTCDay() <= s.days[1]));
  const MINUTE = 60_000;
  const ms = fc.integer({ min: Date.parse('2024-01-01T00:00:00Z'), max: Date.parse('2030-01-01T00:00:00Z') });
  // Half the instants fall exactly on a minute, where windows open and close.
  const instant = fc.oneof(ms, ms.map((n) => Math.floor(n / MINUTE) * MINUTE)).map((n) => new Date(n));

  it('property: open iff some window fired within (now - duration, now]; a closed state names the next fire after now', () => {
    fc.assert(
      fc.property(fc.array(simpleWindow, { minLength: 1, maxLength: 3 }), instant, (simple, now) => {
        const state = windowState(simple.map(toWindow), now);
        const at = now.getTime();
        const firstMinute = Math.floor(at / MINUTE) * MINUTE;
        const openOracle = simple.some((s) => {
          for (let m = firstMinute; m > at - s.minutes * MINUTE; m -= MINUTE) if (fires(s, new Date(m))) return true;
          return false;
        });
        assert.equal(state.open, openOracle);
        if (state.open) return;
        assert.ok(state.nextStart && state.nextStart.getTime() > at);
        // Nothing fires between now and nextStart, and something does at nextStart.
        for (let m = firstMinute + MINUTE; m < state.nextStart.getTime(); m += MINUTE) assert.ok(!simple.some((s) => fires(s, new Date(m))));
        assert.ok(simple.some((s) => fires(s, state.nextStart!)));
      }),
      { numRuns: 300 },
    );
  });
});

describe('windowProblems', () => {
  it('accepts standard schedules and real time zones', () => {
    assert.deepEqual(windowProblems([w('0 2 * * 1-5', '4h', 'Europe/Paris'), w('*/15 22-23 1,15 JAN-MAR SUN', '1h', 'America/New_York'), w('0 0 29 2 *', '1h')]), []);
  });

  it('names the field of out-of-range or unknown cron values, unknown time zones and schedules that never fire', () => {
    const problems = windowProblems([
      w('0 2 * * *', '1h'),
      w('61 2 * * *', '1h'),
      w('0 2 32 * *', '1h', 'Mars/Olympus'),
      w('0 2 * * FOO', '1h'),
      w('0 2 30 2 *', '1h'),
      w('0 24 * * *', '1h'),
      w('0 2 * 13 *', '1h'),
    ]);
    assert.deepEqual(
      problems.map((p) => p.field),
      [
        'spec.strategy.windows[1].schedule',
        'spec.strategy.windows[2].timeZone',
        'spec.strategy.windows[2].schedule',
        'spec.strategy.windows[3].schedule',
        'spec.strategy.windows[4].schedule',
        'spec.strategy.windows[5].schedule',
        'spec.strategy.windows[6].schedule',
      ],
    );
    assert.match(problems[0]!.message, /invalid cron "61 2 \* \* \*" \(.*minute.*\): use minute \(0-59\)/);
    assert.match(problems[1]!.message, /unknown time zone "Mars\/Olympus": use an IANA name/);
    assert.match(problems[4]!.message, /never fires/);
  });
});
