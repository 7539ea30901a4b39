// `kubectl liveupdate` against the real apiserver: an operator process and simulated fleets of agent processes, so
// every verb acts on a real rollout and what it prints follows what the rollout does. The plugin runs as its real
// executable entry (its own process, stdin not a terminal), and once through kubectl's own plugin dispatch.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { dump, load } from 'js-yaml';
import type { LiveUpdatePlan } from '../../src/api/plan';
import type { NodeRow } from '../../src/cli/plugin/render';
import { nodeResource, planResource, type ClusterResource } from '../../src/kube/cluster-resource';
import { readMark } from '../../src/operator/views';
import { trackChild } from '../support/children';
import { planFor, startFleet, stopFleet, TARGET, untilPlan, type E2eFleet } from '../support/e2e';
import { adminKubeConfig, uniqueName } from '../support/kube';
import { OperatorProcess } from '../support/operator-process';

const ROOT = path.resolve(__dirname, '../..');
const PLUGIN = path.join(ROOT, 'src/cli/kubectl-liveupdate.ts');
// The operator here reconciles only this file's plans: other files share the apiserver.
const SCOPE = { 'liveupdate.dev/test-scope': 'plugin-test' };
const SCOPE_LABEL = 'liveupdate.dev/test-scope=plugin-test';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command args` in `cwd` to its end with KUBECONFIG set; stdin is not a terminal, or carries `input` when given. */
function exec(command: string, args: string[], env: Record<string, string> = {}, input?: string, cwd = ROOT): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', KUBECONFIG: process.env.LIVEUPDATE_TEST_KUBECONFIG!, ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    trackChild(child);
    child.stdin?.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `kubectl liveupdate <args>` through the plugin's executable entry, as kubectl execs it. */
const plugin = (...args: string[]): Promise<Run> => exec(process.execPath, ['-r', 'ts-node/register', PLUGIN, ...args]);

/** The plugin on a pseudo-terminal (util-linux `script`), answering `answer` to its question; stdout and stderr merged. */
function pluginOnTerminal(answer: string, ...args: string[]): Promise<Run> {
  const words = [process.execPath, '-r', 'ts-node/register', PLUGIN, ...args].map((w) => `'${w}'`).join(' ');
  return exec('script', ['-qec', words, '/dev/null'], {}, `${answer}\n`);
}

const ok = (run: Run, what: string): Run => {
  assert.equal(run.code, 0, `${what}: exit ${run.code}\n${run.stderr}${run.stdout}`);
  return run;
};

/** The status frames `status --watch` printed (each starts at its Name: line). */
const frames = (stdout: string): string[] => stdout.split(/^(?=Name: )/m).filter((f) => f.trim() !== '');

/** A node row of `status` output: NODE PHASE ATTEMPT ACTION AGENT KERNEL … */
const row = (text: string, node: string): string[] => text.split('\n').find((l) => l.startsWith(`${node} `))?.trim().split(/\s+/) ?? [];

describe('kubectl liveupdate (plugin) on a real rollout', () => {
  let kc: KubeConfig;
  let plans: ClusterResource<LiveUpdatePlan>;
  let dir: string;
  let operator: OperatorProcess;
  let rollout: E2eFleet;
  let small: E2eFleet;
  /** The rollout the third test takes to Completed, for the kubectl dispatch test. */
  let completed: string | undefined;

  before(async () => {
    kc = adminKubeConfig();
    plans = planResource(kc);
    const kubeconfig = process.env.LIVEUPDATE_TEST_KUBECONFIG!;
    dir = await mkdtemp(path.join(os.tmpdir(), 'plugin-test-'));
    operator = new OperatorProcess(kubeconfig, ['--plan-selector', SCOPE_LABEL]);
    [rollout, small] = await Promise.all([startFleet(kc, kubeconfig, dir, 3, { prefix: uniqueName('plug') }), startFleet(kc, kubeconfig, dir, 2, { prefix: uniqueName('plug') })]);
  });
  after(async () => {
    await operator?.stop();
    await Promise.all([stopFleet(kc, rollout), stopFleet(kc, small)]);
    await rm(dir, { recursive: true, force: true });
  });

  const canaryPlan = (f: E2eFleet) => planFor(f.fleet, { steps: [{ nodes: 1, pause: {} }, { nodes: '100%' }] }, {}, SCOPE);
  const context = () => `operator log tail:\n${operator.log.slice(-4000)}`;

  it('preview: creates the plan file in Preview mode, prints the preview once the operator filled it, touches no node; shows it again', async () => {
    const body = canaryPlan(small);
    const name = body.metadata.name;
    const file = path.join(dir, `${name}.yaml`);
    await writeFile(file, dump(body));

    const first = ok(await plugin('preview', file, '--timeout', '60s'), 'preview');
    assert.match(first.stderr, new RegExp(`plan ${name} created in strategy.mode Preview`));
    assert.match(first.stdout, new RegExp(`^Preview of plan ${name}: 2 of 2 selected nodes eligible`, 'm'));
    const [n1, n2] = small.fleet.nodes;
    assert.match(first.stdout, new RegExp(`^ {2}step 0 \\(canary\\): ${n1}\n {2}step 1: ${n2}$`, 'm'), 'the canary batch, then the rest');
    const plan = await plans.get(name);
    assert.equal(plan.spec.strategy.mode, 'Preview');
    assert.equal(plan.status?.phase, 'Previewed');
    for (const node of small.fleet.nodes) assert.equal(readMark(await nodeResource(kc).get(node))?.planUid, undefined, `${node} untouched`);

    const again = ok(await plugin('preview', file, '-o', 'json'), 'preview again');
    assert.match(again.stderr, new RegExp(`plan ${name} exists: showing it`));
    assert.deepEqual((JSON.parse(again.stdout) as { order: string[] }).order, [n1, n2]);

    const bad = path.join(dir, 'bad.yaml');
    const badBody = canaryPlan(small);
    badBody.spec.target.kernel.sha256 = 'abc';
    await writeFile(bad, dump(badBody));
    const refused = await plugin('preview', bad);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`bad.yaml: the apiserver refused plan ${badBody.metadata.name}: spec.target.kernel.sha256: Invalid value: "abc"`));
  });

  it('abort: asks on a terminal, refused without one unless --yes; --yes sets spec.abort and the paused plan ends Aborted', async () => {
    const body = canaryPlan(small);
    const name = body.metadata.name;
    await plans.create(body);
    await untilPlan(kc, name, 'the canary done and the pause waiting for approval', (s) => s.pause?.step === 0, 90_000, context);

    const refused = await plugin('abort', name);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, new RegExp(`abort ${name}: not confirmed; without a terminal to ask on, pass --yes to abort`));
    assert.equal((await plans.get(name)).spec.abort, false, 'nothing written without confirmation');
    const declined = await pluginOnTerminal('n', 'abort', name);
    assert.equal(declined.code, 1, declined.stdout);
    assert.match(declined.stdout, new RegExp(`Abort plan ${name} \\(phase Paused\\)\\? Nodes before the point of no return are cancelled.*\\[y/N\\]`));
    assert.match(declined.stdout, new RegExp(`plan ${name} not aborted`));
    assert.equal((await plans.get(name)).spec.abort, false, 'declined: nothing written');

    const aborted = ok(await plugin('abort', name, '--yes'), 'abort --yes');
    assert.match(aborted.stdout, new RegExp(`plan ${name} aborting \\(spec.abort: true\\)`));
    assert.equal((await plans.get(name)).spec.abort, true);
    await untilPlan(kc, name, 'Aborted', (s) => s.phase === 'Aborted', 60_000, context);
    const status = ok(await plugin('status', name), 'status');
    assert.match(status.stdout, /^Phase: +Aborted \(abort requested\)$/m);
    assert.deepEqual(row(status.stdout, small.fleet.nodes[1]!).slice(0, 2), [small.fleet.nodes[1], 'Pending'], 'the node after the canary never started');
    assert.match(ok(await plugin('abort', name, '--yes'), 'abort again').stdout, new RegExp(`plan ${name} is already aborted`));

    // Confirmed on the terminal: a plan in Preview mode, so nothing else happens to it.
    const other = canaryPlan(small);
    await plans.create({ ...other, spec: { ...other.spec, strategy: { ...other.spec.strategy, mode: 'Preview' } } });
    const confirmed = await pluginOnTerminal('y', 'abort', other.metadata.name);
    assert.equal(confirmed.code, 0, confirmed.stdout);
    assert.match(confirmed.stdout, new RegExp(`plan ${other.metadata.name} aborting \\(spec.abort: true\\)`));
    assert.equal((await plans.get(other.metadata.name)).spec.abort, true);
  });

  it('status, nodes, pause, approve, resume and status --watch follow a canary rollout to Completed', async () => {
    const body = canaryPlan(rollout);
    const name = body.metadata.name;
    const [canary, second, third] = rollout.fleet.nodes as [string, string, string];
    await plans.create(body);
    await untilPlan(kc, name, 'the canary pause', (s) => s.pause?.step === 0, 90_000, context);

    const paused = ok(await plugin('status', name), 'status').stdout;
    assert.match(paused, new RegExp(`^Name: +${name}$`, 'm'));
    assert.match(paused, /^Phase: +Paused$/m);
    assert.match(paused, /^Step: +2\/2$/m);
    assert.match(paused, /^Nodes: +3 selected, 3 eligible: 1 succeeded, 0 in flight, 2 pending/m);
    assert.match(paused, /^Conditions: .*Paused=True \(AwaitingApproval\)/m);
    assert.match(paused, new RegExp(`^Next: .*kubectl liveupdate approve ${name}$`, 'm'));
    assert.match(paused, /^NODE +PHASE +ATTEMPT +ACTION +AGENT +KERNEL +REASON +AGE$/m);
    assert.deepEqual(row(paused, canary).slice(0, 6), [canary, 'Succeeded', '1', 'None', 'Finished', TARGET]);
    assert.deepEqual(row(paused, second).slice(0, 6), [second, 'Pending', '-', 'None', 'Idle', '6.19.0-sim']);

    const json = JSON.parse(ok(await plugin('status', name, '-o', 'json'), 'status -o json').stdout) as { plan: LiveUpdatePlan; nodes: NodeRow[] };
    assert.equal(json.plan.metadata.name, name);
    assert.equal(json.plan.status?.phase, 'Paused');
    assert.deepEqual(json.nodes.map((n) => [n.node, n.phase]), [[canary, 'Succeeded'], [second, 'Pending'], [third, 'Pending']]);

    const nodes = ok(await plugin('nodes', '--plan', name), 'nodes --plan').stdout;
    assert.match(nodes, /^NODE +PLAN +PHASE +ATTEMPT +ACTION +AGENT +KERNEL +REASON +AGE$/m);
    assert.deepEqual(row(nodes, canary).slice(0, 3), [canary, name, 'Succeeded']);
    assert.equal(row(nodes, second).length, 0, 'a node the plan has not started is not its node yet');
    const yaml = load(ok(await plugin('nodes', '--plan', name, '-o', 'yaml'), 'nodes -o yaml').stdout) as NodeRow[];
    assert.deepEqual(yaml.map((n) => [n.node, n.plan, n.phase, n.kernel]), [[canary, name, 'Succeeded', TARGET]]);

    // pause: spec.strategy.paused, and the operator reports it.
    assert.match(ok(await plugin('pause', name), 'pause').stdout, new RegExp(`plan ${name} paused \\(spec.strategy.paused: true\\)`));
    assert.equal((await plans.get(name)).spec.strategy.paused, true);
    await untilPlan(kc, name, 'Paused by spec', (s) => s.conditions?.some((c) => c.type === 'Paused' && c.reason === 'PausedBySpec') === true, 30_000, context);
    const byspec = ok(await plugin('status', name), 'status while paused').stdout;
    assert.match(byspec, /^Phase: +Paused \(paused by spec\)$/m);
    assert.match(byspec, /^Message: +spec\.strategy\.paused is true/m);

    // approve: appended to spec.approvals; the spec pause still holds every start.
    const approved = ok(await plugin('approve', name), 'approve').stdout;
    const user = kc.getCurrentUser()!.name;
    assert.match(approved, new RegExp(`approved step 0 of plan ${name} as ${user} \\(appended to spec.approvals\\); the rollout continues once resumed`));
    const withApproval = await plans.get(name);
    assert.deepEqual(withApproval.spec.approvals.map((a) => [a.step, a.by]), [[0, user]]);
    const held = await untilPlan(kc, name, 'the approval seen', (s) => (s.observedGeneration ?? 0) >= (withApproval.metadata.generation ?? 0), 30_000, context);
    assert.deepEqual([held.phase, held.summary?.inFlight, held.summary?.succeeded], ['Paused', 0, 1], 'paused by spec: nothing starts');
    assert.match(ok(await plugin('approve', name, '--step', '0'), 'approve step 0 again').stdout, new RegExp(`step 0 of plan ${name} is already approved \\(by ${user} at `));
    const nothingWaits = await plugin('approve', name);
    assert.equal(nothingWaits.code, 1);
    assert.match(nothingWaits.stderr, new RegExp(`plan ${name} is not waiting for an approval \\(phase Paused; last approval: step 0 by ${user}\\); no pause is left to approve`));
    assert.equal((await plans.get(name)).spec.approvals.length, 1);

    // resume: the rollout continues, and --watch re-renders until it completes.
    assert.match(ok(await plugin('resume', name), 'resume').stdout, new RegExp(`plan ${name} resumed`));
    assert.equal((await plans.get(name)).spec.strategy.paused, false);
    const watched = ok(await plugin('status', name, '--watch', '--timeout', '120s'), 'status --watch').stdout;
    const shown = frames(watched);
    assert.ok(shown.length >= 2, `a frame per change, got ${shown.length}:\n${watched}`);
    const last = shown.at(-1)!;
    assert.match(last, /^Phase: +Completed$/m);
    for (const node of [canary, second, third]) {
      const cells = row(last, node);
      assert.deepEqual([cells[1], cells[5]], ['Succeeded', TARGET], node);
    }
    completed = name;
    assert.ok(shown.slice(0, -1).every((f) => !/^Phase: +Completed$/m.test(f)), 'earlier frames show the rollout before it completed');
  });

  it('errors name the plan and what to do', async () => {
    const missing = uniqueName('no-such-plan');
    for (const args of [['status', missing], ['pause', missing], ['approve', missing], ['nodes', '--plan', missing]]) {
      const run = await plugin(...args);
      assert.equal(run.code, 1, args.join(' '));
      assert.match(run.stderr, new RegExp(`^kubectl liveupdate: plan "${missing}" not found; plans: .+ \\(kubectl get lup lists them\\)$`, 'm'), args.join(' '));
    }
    const body = canaryPlan(small);
    await plans.create({ ...body, spec: { ...body.spec, strategy: { ...body.spec.strategy, mode: 'Preview' } } });
    const notWaiting = await plugin('approve', body.metadata.name);
    assert.equal(notWaiting.code, 1);
    assert.match(notWaiting.stderr, new RegExp(`plan ${body.metadata.name} is not waiting for an approval .*; to approve a later pause ahead of time: --step 0`));
    const noPause = await plugin('approve', body.metadata.name, '--step', '1');
    assert.equal(noPause.code, 1);
    assert.match(noPause.stderr, /step 1 has no pause that waits for approval \(steps: 2; steps waiting for approval: 0\)/);
    const tooLong = await plugin('approve', body.metadata.name, '--step', '0', '--note', 'x'.repeat(1100));
    assert.equal(tooLong.code, 1);
    assert.match(tooLong.stderr, new RegExp(`^kubectl liveupdate: plan "${body.metadata.name}": the apiserver refused the change: spec\\.approvals\\[0\\]\\.note: Too long`, 'm'));
    assert.deepEqual((await plans.get(body.metadata.name)).spec.approvals, [], 'nothing appended');

    const current = kc.getCurrentContext();
    ok(await plugin('nodes', '--kubeconfig', process.env.LIVEUPDATE_TEST_KUBECONFIG!, '--context', current), 'nodes --context');
    const badContext = await plugin('nodes', '--context', 'elsewhere');
    assert.equal(badContext.code, 1);
    assert.match(badContext.stderr, new RegExp(`context "elsewhere" is not in the kubeconfig; its contexts: ${current}`));
  });

  it('through kubectl: `kubectl liveupdate status` finds the plugin on PATH', async () => {
    const bin = path.join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    const shim = path.join(bin, 'kubectl-liveupdate');
    // From source, runnable from any directory: ts-node and the project's tsconfig named by absolute path.
    const register = require.resolve('ts-node/register');
    await writeFile(shim, `#!/bin/sh\nTS_NODE_PROJECT="${path.join(ROOT, 'tsconfig.json')}" exec "${process.execPath}" -r "${register}" "${PLUGIN}" "$@"\n`);
    await chmod(shim, 0o755);
    const kubectl = path.join(process.env.LIVEUPDATE_TEST_BIN_DIR ?? '', 'kubectl');
    const name = completed;
    assert.ok(name, 'the rollout test completed a plan');
    const run = ok(await exec(kubectl, ['liveupdate', 'status', name], { PATH: `${bin}:${process.env.PATH}` }, undefined, dir), 'kubectl liveupdate status');
    assert.match(run.stdout, new RegExp(`^Name: +${name}$`, 'm'));
    assert.match(run.stdout, /^Phase: +Completed$/m);
    const help = ok(await exec(kubectl, ['liveupdate', '--help'], { PATH: `${bin}:${process.env.PATH}` }, undefined, dir), 'kubectl liveupdate --help');
    assert.match(help.stdout, /^Usage: kubectl liveupdate /);
  });
});
