// `promtool test rules` on the chart's alerts, fed the series the operator exports: each scenario drives the real
// RolloutMetrics, scrapes its registry once a minute (as Prometheus would, with instance and job labels) and checks
// when each alert fires — and when it must not.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dump, loadAll } from 'js-yaml';
import { Registry } from 'prom-client';
import type { LiveUpdatePlanStatus } from '../../src/api/plan';
import type { NodeView, RolloutMark } from '../../src/operator/model';
import { planNodeStates, RolloutMetrics } from '../../src/operator/metrics';
import { CHART, helm } from '../support/helm';
import { promtool } from '../support/prometheus';

type Summary = NonNullable<LiveUpdatePlanStatus['summary']>;
interface Rule {
  alert: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const TARGET = { instance: '10.0.0.7:8080', job: 'lu-liveupdate-operator' };
const NODES = 8;

/** A plan's summary with `inFlight` / `succeeded` / `failed` / `cancelled` nodes and the rest pending. */
function summary(counts: Partial<Pick<Summary, 'inFlight' | 'succeeded' | 'failed' | 'cancelled'>>): Summary {
  const { inFlight = 0, succeeded = 0, failed = 0, cancelled = 0 } = counts;
  return { selected: NODES + 1, eligible: NODES, pending: NODES - inFlight - succeeded - failed - cancelled, inFlight, succeeded, failed, cancelled, skipped: 1 };
}
const marks = (planUid: string, ...phases: RolloutMark['phase'][]): NodeView[] =>
  phases.map((phase, i) => ({ name: `n${i}`, labels: {}, ready: true, unschedulable: false, record: { resourceVersion: '1', attempt: 1, mark: { planUid, attempt: 1, phase, since: '2026-12-01T00:00:00Z' } } }) as NodeView);

/** One operator process's registry scraped once a minute into promtool's input_series notation. */
class Scrapes {
  readonly registry = new Registry();
  readonly metrics = new RolloutMetrics(this.registry);
  private readonly series = new Map<string, (number | undefined)[]>();
  private minutes = 0;

  /** `minutes` scrapes, `step(minute)` before each one. */
  async run(minutes: number, step: (minute: number) => void = () => {}): Promise<void> {
    for (let i = 0; i < minutes; i++) {
      step(this.minutes);
      for (const metric of await this.registry.getMetricsAsJSON())
        for (const v of metric.values) {
          const labels = { ...v.labels, ...TARGET };
          // Histograms name each series (_bucket, _sum, _count); prom-client types only the metric.
          const name = (v as { metricName?: string }).metricName ?? metric.name;
          const key = `${name}{${Object.entries(labels).map(([k, x]) => `${k}="${String(x)}"`).join(',')}}`;
          const values = this.series.get(key) ?? [];
          values[this.minutes] = v.value;
          this.series.set(key, values);
        }
      this.minutes++;
    }
  }

  /** Absent before a series appears (`_`), a staleness marker once it disappears (as Prometheus writes one). */
  inputSeries(): { series: string; values: string }[] {
    return [...this.series].map(([series, values]) => {
      const out: string[] = [];
      for (let i = 0; i < this.minutes; i++) {
        const v = values[i];
        out.push(v !== undefined ? String(v) : i > 0 && values[i - 1] !== undefined ? 'stale' : '_');
      }
      return { series, values: out.join(' ') };
    });
  }
}

describe('chart alerts under promtool test rules', () => {
  let dir: string;
  let rules: Rule[];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'liveupdate-alerts-'));
    const rendered = loadAll(await helm(['template', 'lu', CHART, '--set', 'prometheusRule.enabled=true', '--show-only', 'templates/prometheusrule.yaml'])) as { spec: { groups: { rules: Rule[] }[] } }[];
    const { groups } = rendered[0]!.spec;
    rules = groups.flatMap((g) => g.rules);
    await writeFile(path.join(dir, 'rules.yaml'), dump({ groups }));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** What Prometheus makes of a firing alert: the rule's labels plus `labels`, its annotations expanded. */
  function expected(alert: string, labels: Record<string, string>, value: string) {
    const rule = rules.find((r) => r.alert === alert)!;
    const expand = (text: string) => text.replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, (_, k: string) => labels[k] ?? '').replace(/\{\{\s*\$value\s*\}\}/g, value);
    return {
      exp_labels: { ...rule.labels, ...labels },
      exp_annotations: Object.fromEntries(Object.entries(rule.annotations ?? {}).map(([k, v]) => [k, expand(v)])),
    };
  }

  async function check(name: string, scrapes: Scrapes, alertname: string, evals: [minute: number, firing: ReturnType<typeof expected>[]][]): Promise<void> {
    const test = {
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          name,
          interval: '1m',
          input_series: scrapes.inputSeries(),
          alert_rule_test: evals.map(([minute, firing]) => ({ eval_time: `${minute}m`, alertname, exp_alerts: firing })),
        },
      ],
    };
    const file = `${alertname}.test.yaml`;
    await writeFile(path.join(dir, file), dump(test, { lineWidth: -1 }));
    const out = await promtool(['test', 'rules', file], dir);
    assert.match(out, /SUCCESS/, out);
  }

  it('LiveUpdatePlanHalted fires for a halted plan, not for a running one, and stops once the plan is deleted', async () => {
    const s = new Scrapes();
    await s.run(40, (m) => {
      s.metrics.phase('running', 'Progressing');
      s.metrics.nodes('running', planNodeStates(summary({ inFlight: 1 }), [], 'u2'));
      if (m < 30) {
        s.metrics.phase('halted', m < 10 ? 'Progressing' : 'Halted');
        s.metrics.nodes('halted', planNodeStates(summary(m < 10 ? { inFlight: 1 } : { failed: 1 }), m < 10 ? [] : marks('u1', 'Failed'), 'u1'));
      } else if (m === 30) s.metrics.forget('halted');
    });
    const halted = expected('LiveUpdatePlanHalted', { plan: 'halted' }, '1');
    await check('plan halted', s, 'LiveUpdatePlanHalted', [[9, []], [10, []], [12, [halted]], [29, [halted]], [35, []]]);
  });

  it('LiveUpdateNodeFailedAfterPointOfNoReturn fires for a node Failed after kexec, not for a cancelled prepare failure', async () => {
    const s = new Scrapes();
    await s.run(30, (m) => {
      // kexec'd: Failed (NodeLost) from minute 10, deleted at 20.
      if (m < 20) s.metrics.nodes('lost', planNodeStates(summary(m < 10 ? { inFlight: 1 } : { failed: 1 }), m < 10 ? [] : marks('u1', 'Failed'), 'u1'));
      else if (m === 20) s.metrics.forget('lost');
      // A prepare failure: cancelled before the point of no return, though it counts against the failure budget.
      s.metrics.nodes('refused', planNodeStates(summary(m < 10 ? { inFlight: 1 } : { failed: 1 }), m < 10 ? [] : marks('u2', 'Cancelled'), 'u2'));
    });
    const lost = expected('LiveUpdateNodeFailedAfterPointOfNoReturn', { plan: 'lost' }, '1');
    await check('failed after kexec', s, 'LiveUpdateNodeFailedAfterPointOfNoReturn', [[9, []], [11, [lost]], [19, [lost]], [25, []]]);
  });

  it('LiveUpdateNodeHeldTooLong fires when nodes stay in flight with none ending for the window, not while nodes keep finishing', async () => {
    const s = new Scrapes();
    await s.run(330, (m) => {
      // Waited 3 h for its window, then one node in flight that never ends.
      s.metrics.nodes('stuck', planNodeStates(summary({ inFlight: m < 180 ? 0 : 1 }), [], 'u1'));
      // Always a node in flight, one succeeding every hour.
      s.metrics.nodes('moving', planNodeStates(summary({ inFlight: 1, succeeded: Math.floor(m / 60) }), [], 'u2'));
    });
    const stuck = expected('LiveUpdateNodeHeldTooLong', { plan: 'stuck' }, '1');
    // 20 min after its first claim the plan is not held, though its series are older than the window; 2 h after, it is.
    await check('held too long', s, 'LiveUpdateNodeHeldTooLong', [[200, []], [290, []], [305, [stuck]], [329, [stuck]]]);
  });

  it('LiveUpdateDMALost fires on the first DMALost of an operator process, not on another reason', async () => {
    const dma = new Scrapes();
    await dma.run(30, (m) => m === 10 && dma.metrics.failed('DMALost'));
    const lost = expected('LiveUpdateDMALost', { reason: 'DMALost' }, '1');
    await check('dma lost', dma, 'LiveUpdateDMALost', [[9, []], [12, [lost]]]);
    const other = new Scrapes();
    await other.run(30, (m) => m === 10 && other.metrics.failed('NodeLost'));
    await check('node lost', other, 'LiveUpdateDMALost', [[12, []]]);
  });
});
