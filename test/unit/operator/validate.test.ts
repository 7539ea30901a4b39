import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { load } from 'js-yaml';
import { parsePlan } from '../../../src/api/parse';
import { validatePlan } from '../../../src/operator/validate';
import { validPlan } from '../../support/plans';

type Json = Record<string, unknown>;

/** validPlan() with its spec.strategy changed, parsed as the operator reads it. */
function planWith(strategy: Json) {
  const plan = validPlan('p');
  const spec = plan.spec as Json;
  spec.strategy = { ...(spec.strategy as Json), ...strategy };
  return parsePlan(plan);
}

const windows = (...list: Json[]) => ({ windows: list });
const steps = (...nodes: (number | string)[]) => ({ steps: nodes.map((n) => ({ nodes: n })) });

const BAD: { what: string; strategy: Json; fields: string[]; message?: RegExp }[] = [
  { what: 'a minute out of range', strategy: windows({ schedule: '61 2 * * *', duration: '1h' }), fields: ['spec.strategy.windows[0].schedule'], message: /minute/ },
  { what: 'day-of-month 32', strategy: windows({ schedule: '0 2 * * *', duration: '1h' }, { schedule: '0 2 32 * *', duration: '1h' }), fields: ['spec.strategy.windows[1].schedule'] },
  { what: 'an unknown day name', strategy: windows({ schedule: '0 2 * * MOON', duration: '1h' }), fields: ['spec.strategy.windows[0].schedule'] },
  { what: 'a date that never comes', strategy: windows({ schedule: '0 2 31 4 *', duration: '1h' }), fields: ['spec.strategy.windows[0].schedule'], message: /never fires/ },
  {
    what: 'a time zone that does not exist',
    strategy: windows({ schedule: '0 2 * * *', duration: '1h' }, { schedule: '0 2 * * *', duration: '1h', timeZone: 'Europe/Atlantis' }),
    fields: ['spec.strategy.windows[1].timeZone'],
    message: /unknown time zone "Europe\/Atlantis": use an IANA name/,
  },
  { what: 'a shrinking count', strategy: steps(1, 5, 3), fields: ['spec.strategy.steps[2].nodes'], message: /steps\[2\]\.nodes \(3\) is below steps\[1\]\.nodes \(5\): raise it/ },
  {
    what: 'a shrinking percentage',
    strategy: steps(1, '25%', '10%', '100%'),
    fields: ['spec.strategy.steps[2].nodes'],
    message: /^steps are cumulative: steps\[2\]\.nodes \(10%\) is below steps\[1\]\.nodes \(25%\)/,
  },
  { what: 'a percentage below an earlier one across a count', strategy: steps('50%', 10, '20%'), fields: ['spec.strategy.steps[2].nodes'] },
  { what: 'two shrinking steps and a bad window', strategy: { ...steps(5, 4, 3), ...windows({ schedule: '0 25 * * *', duration: '1h' }) }, fields: ['spec.strategy.steps[1].nodes', 'spec.strategy.steps[2].nodes', 'spec.strategy.windows[0].schedule'] },
];

describe('validatePlan', () => {
  for (const c of BAD) {
    it(`names ${c.fields.join(', ')} for ${c.what}`, () => {
      const problems = validatePlan(planWith(c.strategy));
      assert.deepEqual(
        problems.map((p) => p.field),
        c.fields,
      );
      if (c.message) assert.match(problems[0]!.message, c.message);
    });
  }

  it('accepts what the planner resolves or what is merely redundant', () => {
    // Mixed kinds compare only against the fleet; equal steps and a pause after the last step do no harm.
    assert.deepEqual(validatePlan(planWith(steps(10, '5%', 10, '5%', '100%'))), []);
    assert.deepEqual(validatePlan(planWith({ steps: [{ nodes: 1 }, { nodes: '100%', pause: { duration: '1h' } }] })), []);
    assert.deepEqual(validatePlan(planWith({ ...steps(), ...windows() })), []);
  });

  it('finds nothing wrong with the valid plan and the example manifests', async () => {
    assert.deepEqual(validatePlan(parsePlan(validPlan('p'))), []);
    const dir = path.resolve(__dirname, '../../../manifests/examples');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length >= 3);
    for (const file of files) assert.deepEqual(validatePlan(parsePlan(load(await readFile(path.join(dir, file), 'utf8')))), [], file);
  });
});
