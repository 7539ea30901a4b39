// Maintenance windows: each fire time of a window's cron schedule (in its time zone) opens it for its duration.
// Pure: answers depend only on `now`, so the planner stays deterministic under test clocks. Cron and DST rules are
// croner's (5 fields, day-of-month OR day-of-week as in Vixie cron; a start in a DST gap moves to the gap's end).
import { Cron } from 'croner';
import type { z } from 'zod';
import { durationMs } from '../api/duration';
import type { Window as WindowSchema } from '../api/plan';

export type Window = z.output<typeof WindowSchema>;

export interface WindowState {
  open: boolean;
  /** When closed: the earliest next start across windows (absent if none ever starts again). */
  nextStart?: Date;
  /**
   * When open: the latest end among the windows open now. A window starting again before then is not chained in:
   * the caller re-evaluates at closesAt and may find it still open.
   */
  closesAt?: Date;
}

export interface WindowProblem {
  field: string;
  message: string;
}

const schedule = (w: Window): Cron => new Cron(w.schedule, { timezone: w.timeZone, mode: '5-part' });

/** Whether `now` is inside a window; no windows means always open. */
export function windowState(windows: readonly Window[], now: Date): WindowState {
  if (windows.length === 0) return { open: true };
  const at = now.getTime();
  let closesAt: number | undefined;
  let nextStart: number | undefined;
  for (const w of windows) {
    const cron = schedule(w);
    // The latest start <= now has the latest end of this window's runs (one duration for all). previousRuns
    // excludes a run exactly at its reference, so look from 1 ms later to count a window opening right now.
    const last = cron.previousRuns(1, new Date(at + 1))[0];
    const end = last === undefined ? undefined : last.getTime() + durationMs(w.duration);
    if (end !== undefined && end > at) {
      closesAt = Math.max(closesAt ?? end, end);
    } else {
      const next = cron.nextRun(now)?.getTime();
      if (next !== undefined) nextStart = Math.min(nextStart ?? next, next);
    }
  }
  if (closesAt !== undefined) return { open: true, closesAt: new Date(closesAt) };
  return nextStart === undefined ? { open: false } : { open: false, nextStart: new Date(nextStart) };
}

const knownTimeZone = (timeZone: string): boolean => {
  try {
    new Intl.DateTimeFormat(undefined, { timeZone });
    return true;
  } catch (err) {
    if (err instanceof RangeError) return false;
    throw err;
  }
};

// Any fixed instant works for "does it ever fire": schedules repeat (leap days and weekdays within 28 years).
const REFERENCE = new Date('2000-01-01T00:00:00Z');

/** What the schema's regexes let through: cron values out of range or unknown, a time zone that does not exist, a schedule that never fires. */
export function windowProblems(windows: readonly Window[], path = 'spec.strategy.windows'): WindowProblem[] {
  const problems: WindowProblem[] = [];
  windows.forEach((w, i) => {
    const field = `${path}[${i}]`;
    const zoneKnown = knownTimeZone(w.timeZone);
    if (!zoneKnown) {
      problems.push({ field: `${field}.timeZone`, message: `unknown time zone "${w.timeZone}": use an IANA name like Europe/Paris or UTC` });
    }
    let cron: Cron;
    try {
      // The schedule's syntax does not depend on the zone: check it in UTC when the zone is unknown.
      cron = schedule(zoneKnown ? w : { ...w, timeZone: 'UTC' });
    } catch (err) {
      const reason = (err instanceof Error ? err.message : String(err)).replace(/^CronPattern:\s*/, '');
      problems.push({
        field: `${field}.schedule`,
        message: `invalid cron "${w.schedule}" (${reason}): use minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or JAN-DEC) day-of-week (0-7 or SUN-SAT), e.g. "0 2 * * 1-5"`,
      });
      return;
    }
    if (cron.nextRun(REFERENCE) === null) {
      problems.push({ field: `${field}.schedule`, message: `cron "${w.schedule}" never fires (no such date): fix the day-of-month or month` });
    }
  });
  return problems;
}
