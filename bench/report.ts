// What every bench prints: one table of figure / goal / measured / verdict, the machine it ran on, and (for
// `npm run bench`, which runs them all) the same rows as JSON lines appended to $BENCH_ROWS.
import { appendFileSync } from 'node:fs';
import os from 'node:os';
import { percentile } from './stats';

export interface Row {
  figure: string;
  goal: string;
  measured: string;
  verdict: 'pass' | 'MISS' | 'info';
}

/** p50 / p99 / max of a sample, and its p99 for the verdict. */
function summary(values: readonly number[], unit = 'ms', digits = 0): { text: string; p99: number } {
  const s = [...values].sort((a, b) => a - b);
  const f = (v: number) => v.toFixed(digits);
  return { text: `p50 ${f(percentile(s, 50))} / p99 ${f(percentile(s, 99))} / max ${f(s.at(-1)!)} ${unit} (n=${s.length})`, p99: percentile(s, 99) };
}

/** A row whose verdict is p99 ≤ goal (no goal: info). */
export function p99Row(figure: string, goal: number | undefined, values: readonly number[], unit = 'ms', digits = 0): Row {
  const { text, p99 } = summary(values, unit, digits);
  return { figure, goal: goal === undefined ? '—' : `p99 ≤ ${goal} ${unit}`, measured: text, verdict: goal === undefined ? 'info' : p99 <= goal ? 'pass' : 'MISS' };
}

/** A row for one number against an upper bound. */
export function maxRow(figure: string, goal: number | undefined, value: number, unit: string, digits = 0): Row {
  return {
    figure,
    goal: goal === undefined ? '—' : `≤ ${goal} ${unit}`.trim(),
    measured: `${value.toFixed(digits)} ${unit}`.trim(),
    verdict: goal === undefined ? 'info' : value <= goal ? 'pass' : 'MISS',
  };
}

/** Other work on the machine shows in the tails: the load average says how much there was. */
export function machineLine(): string {
  const cpus = os.cpus();
  return `machine: ${cpus.length} × ${cpus[0]?.model ?? '?'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`;
}

export function formatTable(rows: readonly Row[]): string {
  const cells = [['figure', 'goal', 'measured', ''], ...rows.map((r) => [r.figure, r.goal, r.measured, r.verdict])];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => c.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** Prints the table and hands the rows to `npm run bench` when it runs this bench. */
export function publish(rows: readonly Row[]): void {
  console.log(formatTable(rows));
  const file = process.env.BENCH_ROWS;
  if (file) appendFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
