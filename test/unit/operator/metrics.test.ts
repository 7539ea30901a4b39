// The operator's liveupdate_* metrics as a scrape shows them.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { NodeView, RolloutMark } from '../../../src/operator/model';
import { KNOWN_FAILURE_REASONS, PLAN_NODE_STATES, planNodeStates, RolloutMetrics } from '../../../src/operator/metrics';

const summary = { selected: 10, eligible: 8, pending: 2, inFlight: 1, succeeded: 2, failed: 2, cancelled: 1, skipped: 2 };
const marked = (name: string, planUid: string, phase: RolloutMark['phase']): NodeView =>
  ({ name, labels: {}, ready: true, unschedulable: false, record: { mark: { planUid, attempt: 1, phase, since: '2026-12-01T00:00:00Z' } } }) as NodeView;

describe('rollout metrics', () => {
  it('expose plan phase, node states, update and handoff histograms and failures by reason', async () => {
    const registry = new Registry();
    const m = new RolloutMetrics(registry);
    m.phase('p', 'Progressing');
    m.nodes('p', planNodeStates(summary, [marked('a', 'u', 'Failed')], 'u'));
    m.succeeded('p', 42, 1_000);
    m.prepareWritten('p', 1_015);
    m.prepareWritten('p', 2_000); // no success since: no second handoff
    m.failed('DMALost');
    const text = await registry.metrics();
    assert.match(text, /liveupdate_plan_phase\{plan="p",phase="Progressing"\} 1/);
    assert.match(text, /liveupdate_plan_phase\{plan="p",phase="Completed"\} 0/);
    assert.match(text, /liveupdate_plan_nodes\{plan="p",phase="InFlight"\} 1/);
    assert.match(text, /liveupdate_node_update_seconds_sum\{plan="p"\} 42/);
    assert.match(text, /liveupdate_handoff_seconds_count\{plan="p"\} 1/);
    assert.match(text, /liveupdate_handoff_seconds_sum\{plan="p"\} 0\.015/);
    assert.match(text, /liveupdate_failures_total\{reason="DMALost"\} 1/);
  });

  it('liveupdate_plan_nodes partitions the selected nodes; Failed is only the phase Failed (issue 18 item 23)', async () => {
    const registry = new Registry();
    const m = new RolloutMetrics(registry);
    // Two failures against the budget: one Failed after kexec, one cancelled before it (PrepareFailed); another plan's Failed.
    m.nodes('p', planNodeStates(summary, [marked('a', 'u', 'Failed'), marked('b', 'u', 'Cancelled'), marked('c', 'other', 'Failed')], 'u'));
    const series = (await registry.getSingleMetric('liveupdate_plan_nodes')!.get()).values;
    assert.deepEqual(series.map((s) => s.labels.phase).sort(), [...PLAN_NODE_STATES].sort(), 'every state, and only states, as label values');
    const by: Record<string, number> = Object.fromEntries(series.map((s) => [String(s.labels.phase), s.value]));
    assert.equal(Object.values(by).reduce((a, b) => a + b, 0), summary.selected, 'a sum over the label is the selection');
    assert.equal(by.Failed, 1);
    assert.equal(by.Cancelled, 2);
    assert.equal(by.Skipped, summary.selected - summary.eligible);
  });

  it('known failure reasons start at 0, so increase() sees the first failure (issue 18 item 24)', async () => {
    const registry = new Registry();
    new RolloutMetrics(registry);
    const text = await registry.metrics();
    assert.match(text, /liveupdate_failures_total\{reason="DMALost"\} 0/);
    assert.match(text, /liveupdate_failures_total\{reason="NodeLost"\} 0/);
  });

  it('the known reasons are every reason the planner and the agent assign', async () => {
    const src = (file: string) => readFile(path.resolve(__dirname, '../../../src', file), 'utf8');
    const agentUnion = /export type FailureReason =([^;]*);/.exec(await src('agent/actions.ts'))![1]!;
    const agent = [...agentUnion.matchAll(/'([A-Za-z]+)'/g)].map((x) => x[1]!);
    const flow = await src('operator/planner/node-flow.ts');
    const operator = [...flow.matchAll(/(?:fail|cancel)\('([A-Za-z]+)'|agentError\(report, [^)]*'([A-Za-z]+)'\)/g)].map((x) => (x[1] ?? x[2])!);
    assert.ok(agent.includes('DMALost') && operator.includes('NodeLost'), 'the source scan finds the reasons');
    for (const reason of new Set([...agent, ...operator])) assert.ok(KNOWN_FAILURE_REASONS.includes(reason), `${reason} is missing from KNOWN_FAILURE_REASONS`);
  });

  it('forgets every series of a deleted plan (issue 18 item 25)', async () => {
    const registry = new Registry();
    const m = new RolloutMetrics(registry);
    for (const plan of ['p', 'q']) {
      m.phase(plan, 'Progressing');
      m.nodes(plan, planNodeStates(summary, [], 'u'));
      m.succeeded(plan, 42, 1_000);
      m.prepareWritten(plan, 1_015);
      m.planned(plan, 0.01);
    }
    m.forget('p');
    const text = await registry.metrics();
    assert.doesNotMatch(text, /plan="p"/, 'no series of the deleted plan');
    for (const name of ['liveupdate_plan_phase', 'liveupdate_plan_nodes', 'liveupdate_node_update_seconds_sum', 'liveupdate_handoff_seconds_sum', 'liveupdate_plan_pass_seconds_sum'])
      assert.match(text, new RegExp(`${name}\\{[^}]*plan="q"`), `${name} of the other plan stays`);
  });
});
