// What the kubectl plugin prints: kubectl-style ages, step i/n, the plan header, the node rows of a plan and of the
// fleet, the preview, and -o json|yaml.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { load } from 'js-yaml';
import { parsePlan } from '../../../src/api/parse';
import { describeSteps, formatOutput, humanAge, nodeRow, nodeTable, planHeader, planNodeRows, renderPreview, renderStatus, stepOf } from '../../../src/cli/plugin/render';
import { plan, record, report, T0, UID } from '../demo/fixtures';

const NOW = Date.parse(T0) + 95_000;
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('plugin rendering', () => {
  it('ages read like kubectl get (HumanDuration)', () => {
    const cases: [number, string][] = [
      [-5 * S, '0s'],
      [0, '0s'],
      [119 * S, '119s'],
      [2 * M, '2m'],
      [3 * M + 12 * S, '3m12s'],
      [95 * M, '95m'],
      [3 * H, '3h'],
      [5 * H + 30 * M, '5h30m'],
      [30 * H, '30h'],
      [3 * D + 4 * H, '3d4h'],
      [3 * D, '3d'],
      [12 * D, '12d'],
      [2 * 365 * D + 100 * D, '2y100d'],
      [3 * 365 * D, '3y'],
      [9 * 365 * D + 5 * D, '9y'],
    ];
    for (const [ms, text] of cases) assert.equal(humanAge(ms), text, `${ms} ms`);
  });

  it('step i/n is 1-based over the plan steps; a plan without steps is one step', () => {
    assert.equal(stepOf(plan(['n1'])), '-/2');
    assert.equal(stepOf(plan(['n1'], { currentStep: 0 })), '1/2');
    assert.equal(stepOf(plan(['n1'], { currentStep: 1 })), '2/2');
    const oneStep = parsePlan({ ...plan(['n1']), spec: { ...plan(['n1']).spec, strategy: { maxInFlight: 1 } } });
    assert.equal(stepOf(oneStep), '-/1');
    assert.equal(describeSteps(oneStep), 'all selected nodes in one step');
    assert.equal(describeSteps(plan(['n1'])), '1 node, pause until approved → 100%');
  });

  it("a plan's rows: started nodes from the mark (refined by the agent), skipped from status, selected Nodes as Pending", () => {
    const p = plan(['n1', 'n2', 'n3', 'n4'], { skippedNodes: [{ node: 'n3', reason: 'DevicesNotPreservable', message: 'bus master clear' }] });
    const records = [
      record('n2', report({ phase: 'Prepared' }), { phase: 'Preparing', attempt: 1, since: T0 }),
      record('n1', report({ kernelRelease: '6.19.4-lu2', phase: 'Finished' }), { phase: 'Succeeded', attempt: 2, since: T0 }),
      record('n3', report({ phase: 'Idle' }), undefined),
      // another plan's mark: not this plan's node, and n5 is not selected at all
      record('n5', report(), { planUid: 'other-uid', phase: 'Preparing' }),
    ];
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'].map((name) => ({ name, labels: {} }));
    const rows = planNodeRows(p, records, nodes);
    assert.deepEqual(
      rows.map((r) => [r.node, r.phase, r.attempt, r.agent, r.kernel, r.reason]),
      [
        ['n1', 'Succeeded', 2, 'Finished', '6.19.4-lu2', undefined],
        ['n2', 'Prepared', 1, 'Prepared', '6.19.0-sim', undefined],
        ['n3', 'Skipped', undefined, 'Idle', '6.19.0-sim', 'DevicesNotPreservable'],
        ['n4', 'Pending', undefined, undefined, undefined, undefined],
      ],
    );
    assert.deepEqual(
      planNodeRows(p, records, undefined).map((r) => r.node),
      ['n1', 'n2', 'n3'],
      'without the Nodes, pending nodes are not named',
    );
  });

  it('the node table: aligned columns, "-" for what is unknown, ages from the mark', () => {
    const rows = planNodeRows(plan(['n1', 'n2']), [record('n1', report({ phase: 'Prepared' }), { phase: 'Preparing', since: T0, reason: undefined })], [{ name: 'n2', labels: {} }]);
    const lines = nodeTable(rows, NOW, { plan: false }).split('\n');
    assert.match(lines[0]!, /^NODE +PHASE +ATTEMPT +ACTION +AGENT +KERNEL +REASON +AGE$/);
    assert.match(lines[1]!, /^n1 +Prepared +1 +None +Prepared +6\.19\.0-sim +95s$/);
    assert.match(lines[2]!, /^n2 +Pending +- +None +- +-$/);
    assert.equal(lines[1]!.indexOf('Prepared'), lines[0]!.indexOf('PHASE'), 'columns line up');
  });

  it('a LiveUpdateNode across plans: the plan named from its mark, "-" where no plan touched it', () => {
    const names = (uid: string) => (uid === UID ? 'demo-rollout' : undefined);
    const marked = nodeRow(record('n1', report({ phase: 'Idle' }), { phase: 'Cancelled', reason: 'PrepareFailed', message: 'EIO' }), names);
    assert.deepEqual([marked.plan, marked.phase, marked.reason, marked.message, marked.agent], ['demo-rollout', 'Cancelled', 'PrepareFailed', 'EIO', 'Idle']);
    const untouched = nodeRow(record('n2', report(), undefined), names);
    assert.deepEqual([untouched.plan, untouched.phase, untouched.attempt], [undefined, '-', undefined]);
    assert.match(nodeTable([marked, untouched], NOW, { plan: true }).split('\n')[0]!, /^NODE +PLAN +PHASE /);
  });

  it('the header names phase, step, counts, what the plan waits for and the command that ends the wait', () => {
    const status = {
      observedGeneration: 1,
      phase: 'Paused' as const,
      currentStep: 1,
      progress: '1/4',
      summary: { selected: 4, eligible: 4, pending: 3, inFlight: 0, succeeded: 1, failed: 0, cancelled: 0, skipped: 0 },
      pause: { step: 0, since: T0 },
      pauseReasons: ['step 0 is done; its pause waits for approval'],
      conditions: [{ type: 'Paused', status: 'True' as const, reason: 'AwaitingApproval', message: 'waits', lastTransitionTime: T0 }],
    };
    const waiting = parsePlan({ ...plan(['n1'], status), metadata: { name: 'demo-rollout', uid: UID, generation: 1 } });
    const header = planHeader(waiting, NOW);
    assert.match(header, /^Name: +demo-rollout$/m);
    assert.match(header, /^Phase: +Paused$/m);
    assert.match(header, /^Message: +step 0 is done; its pause waits for approval$/m);
    assert.match(header, /^Step: +2\/2$/m);
    assert.match(header, /^Nodes: +4 selected, 4 eligible: 1 succeeded, 0 in flight, 3 pending/m);
    assert.match(header, /^Conditions: +Paused=True \(AwaitingApproval\)$/m);
    assert.match(header, /^Next: .*kubectl liveupdate approve demo-rollout$/m);
    assert.doesNotMatch(header, /^Note:/m);

    const approved = parsePlan({ ...waiting, metadata: { ...waiting.metadata, generation: 2 }, spec: { ...waiting.spec, approvals: [{ step: 0, by: 'alice', at: T0 }] } });
    const after = planHeader(approved, NOW);
    assert.doesNotMatch(after, /^Next:/m, 'approved: nothing to do');
    assert.match(after, /^Approvals: +step 0 by alice 95s ago$/m);
    assert.match(after, /^Note: +the operator has not acted on the latest spec yet \(generation 2, status from 1\)$/m);
  });

  it('status lists failures with their messages, and says when pending nodes could not be named', () => {
    const failed = plan(['n1', 'n2'], {
      phase: 'Halted',
      summary: { selected: 2, eligible: 2, pending: 1, inFlight: 0, succeeded: 0, failed: 1, cancelled: 0, skipped: 0 },
      failedNodes: [{ node: 'n1', phase: 'Failed', reason: 'DMALost', message: 'bus master clear on 0000:05:00.1', at: T0 }],
    });
    const text = renderStatus(failed, [], NOW, true);
    assert.match(text, /^No nodes yet\.$/m);
    assert.match(text, /^\(1 pending nodes not listed: listing Nodes is forbidden for this user\)$/m);
    assert.match(text, /^Failures:\n {2}n1 Failed \(DMALost\): bus master clear on 0000:05:00\.1$/m);
  });

  it('the preview: batches per step, eligibility per node, and how to roll', () => {
    const previewed = plan(['n1', 'n2', 'n3'], {
      phase: 'Previewed',
      preview: {
        eligible: 12,
        selected: 13,
        order: ['n1', 'n2'],
        batches: [
          { step: 0, size: 1, nodes: ['n1'] },
          { step: 1, size: 11, nodes: ['n2'] },
        ],
        nodes: [
          { node: 'n1', eligible: true },
          { node: 'n2', eligible: true },
          { node: 'n3', eligible: false, reason: 'NodeNotFound', message: 'no such Node' },
        ],
      },
    });
    const text = renderPreview(previewed);
    assert.match(text, /^Preview of plan demo-rollout: 12 of 13 selected nodes eligible/);
    assert.match(text, /^ {2}step 0 \(canary\): n1\n {2}step 1: n2 and 10 more$/m);
    assert.match(text, /^\(first 3 of 13 selected nodes by name\)$/m);
    assert.match(text, /^n3 +no +NodeNotFound +no such Node$/m);
    assert.match(text, /"mode":"Execute"/);
    assert.match(renderPreview(plan(['n1'])), /no preview yet/);
  });

  it('-o json and -o yaml carry the same data', () => {
    const rows = [nodeRow(record('n1', report(), { phase: 'Preparing' }), () => 'demo-rollout')];
    assert.deepEqual(JSON.parse(formatOutput(rows, 'json')), rows);
    assert.deepEqual(load(formatOutput(rows, 'yaml')), rows);
  });
});
