import assert from 'node:assert/strict';
import { it } from 'node:test';
import { formatFieldPath } from '../../src/util/field-path';

it('formats issue paths with indexes and non-identifier keys', () => {
  assert.equal(formatFieldPath(['spec', 'strategy', 'steps', 0, 'nodes']), 'spec.strategy.steps[0].nodes');
  assert.equal(formatFieldPath(['nodes', 'node-a', 2, 'device'], 'faults'), 'faults.nodes["node-a"][2].device');
  assert.equal(formatFieldPath([]), '');
  assert.equal(formatFieldPath([3], 'topology'), 'topology[3]');
});
