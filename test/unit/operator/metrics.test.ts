// The operator's liveupdate_* metrics as a scrape shows them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { RolloutMetrics } from '../../../src/operator/metrics';

describe('rollout metrics', () => {
  it('expose plan phase, node counts, update and handoff histograms and failures by reason', async () => {
    const registry = new Registry();
    const m = new RolloutMetrics(registry);
    m.phase('p', 'Progressing');
    m.nodes('p', { inFlight: 2, succeeded: 3 });
    m.succeeded('p', 42, 1_000);
    m.prepareWritten('p', 1_015);
    m.prepareWritten('p', 2_000); // no success since: no second handoff
    m.failed('DMALost');
    const text = await registry.metrics();
    assert.match(text, /liveupdate_plan_phase\{plan="p",phase="Progressing"\} 1/);
    assert.match(text, /liveupdate_plan_phase\{plan="p",phase="Completed"\} 0/);
    assert.match(text, /liveupdate_plan_nodes\{plan="p",phase="inFlight"\} 2/);
    assert.match(text, /liveupdate_node_update_seconds_sum\{plan="p"\} 42/);
    assert.match(text, /liveupdate_handoff_seconds_count\{plan="p"\} 1/);
    assert.match(text, /liveupdate_handoff_seconds_sum\{plan="p"\} 0\.015/);
    assert.match(text, /liveupdate_failures_total\{reason="DMALost"\} 1/);
    m.forget('p');
    assert.doesNotMatch(await registry.metrics(), /liveupdate_plan_phase\{plan="p"/);
  });
});
