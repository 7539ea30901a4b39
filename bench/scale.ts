// The operator at fleet scale on the real apiserver: N simulated nodes (one Node + LiveUpdateNode each, with the
// shipped GPU and NVMe inventories; the real agent in-process, all agents sharing one informer), the operator as its own
// process, one plan in Preview over every node and one in Execute whose canary step pauses for approval. Prints:
//   the operator's RSS and heap (nodejs_heap_size_used_bytes from its /metrics) with both plans in place, idle;
//   its CPU while nothing changes for --idle-seconds (utime + stime from /proc/<pid>/stat);
//   one full planning pass over the fleet: the operator's own liveupdate_plan_pass_seconds, and the same pure pass
//   (node views + planner) timed here over the objects listed from the apiserver;
//   reconciles per second and the operator's CPU under churn: the approved rollout running for --churn-seconds.
// Usage: npm run bench:scale -- [--nodes 5000] [--idle-seconds 60] [--churn-seconds 30] [--operator-v8-flags '--max-semi-space-size=2']
//          [--operator-env 'NODE_OPTIONS=… MALLOC_ARENA_MAX=…' (default: the chart's operator.runtimeEnv; '' for none)]
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import type { CoreNode } from '../src/api/core-node';
import type { LiveUpdateNode } from '../src/api/node';
import type { LiveUpdatePlan } from '../src/api/plan';
import { freePort } from '../src/envtest/free-port';
import { nodeResource, planResource } from '../src/kube/cluster-resource';
import { coreNodeKind } from '../src/kube/kinds';
import { requestJson } from '../src/kube/raw-request';
import { collectionPath } from '../src/kube/resource-kind';
import { planRollout } from '../src/operator/planner';
import { nodeView } from '../src/operator/views';
import { SimFleet } from '../src/sim/fleet';
import { loadNamedTopology } from '../src/sim/prepare';
import { projectPath } from '../src/util/package-root';
import { planFor, untilPlan } from '../test/support/e2e';
import { OperatorProcess } from '../test/support/operator-process';
import { InProcessAgents } from './in-process-agents';
import { BenchResources, operatorRuntimeEnv } from './resources';
import { machineLine, maxRow, p99Row, publish } from './report';

const HYPERVISOR = { 'node-role.example.com/hypervisor': 'true' };
const CLOCK_TICKS_PER_S = 100; // USER_HZ on Linux

/** CPU seconds (user + system) the process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S; // utime, stime: fields 14 and 15 of stat(5)
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
}

/** Prometheus text exposition: the sum of a metric's samples whose labels contain every `match` pair. */
async function scrape(url: string): Promise<(name: string, match?: Record<string, string>) => number> {
  const text = await (await fetch(url)).text();
  return (name, match = {}) => {
    let sum = 0;
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const labels = m[2] ?? '';
      if (Object.entries(match).every(([k, v]) => labels.includes(`${k}="${v}"`))) sum += Number(m[3]);
    }
    return sum;
  };
}

/** The pure planning pass as the operator runs it, timed here over the objects as the apiserver lists them. */
async function timePlanningPass(kc: KubeConfig, planName: string, runs: number): Promise<number[]> {
  const nodes = ((await requestJson(kc, 'GET', collectionPath(coreNodeKind))) as { items: CoreNode[] }).items;
  const records = new Map((await nodeResource(kc).list()).map((r: LiveUpdateNode) => [r.metadata.name ?? '', r]));
  const plan: LiveUpdatePlan = await planResource(kc).get(planName);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const views = nodes.map((n) => nodeView(n, records.get(n.metadata.name ?? '')));
    planRollout({ plan, nodes: views, now: new Date(), deleting: false });
    times.push(performance.now() - start);
  }
  return times;
}

/** Compiles the project (tsc, a few seconds) and returns the built CLI. */
function builtCli(): string {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', projectPath('tsconfig.build.json')], { stdio: 'inherit' });
  return projectPath('dist', 'src', 'cli', 'main.js');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { nodes: { type: 'string', default: '5000' }, 'idle-seconds': { type: 'string', default: '60' }, 'churn-seconds': { type: 'string', default: '30' }, 'operator-v8-flags': { type: 'string', default: '' }, 'operator-env': { type: 'string' } },
  });
  const v8Flags = values['operator-v8-flags'].split(' ').filter(Boolean);
  const runtimeEnv = operatorRuntimeEnv(values['operator-env']);
  const nodes = Number(values.nodes);
  const idleS = Number(values['idle-seconds']);
  const churnS = Number(values['churn-seconds']);
  if (!Number.isInteger(nodes) || nodes < 20 || !(idleS > 0) || !(churnS > 0)) throw new Error('--nodes must be a whole number >= 20; --idle-seconds and --churn-seconds > 0');

  const resources = new BenchResources();
  try {
    const { plane, admin: kc } = await resources.controlPlane();
    const dir = await resources.scratchDir('bench-scale-');
    const kubeconfig = path.join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfig, plane.kubeconfig());

    const setupStart = performance.now();
    const agents = resources.add(new InProcessAgents(kc), (a) => a.stop());
    agents.start();
    const topologies = await Promise.all(['gpu8.json', 'nvme-sriov.json'].map((f) => loadNamedTopology(projectPath('src', 'host', 'sim', 'topologies', f))));
    const fleet = resources.add(
      await SimFleet.start({ kc, dir: path.join(dir, 'fleet'), nodes, prefix: 'scale', topologies, rebootSeconds: 1, kernels: ['6.19.4-lu2'], fullKubeletStatus: true, agents: { kind: 'in-process', run: agents.run } }),
      (f) => f.stop(),
    );
    await fleet.settled();
    const setupS = (performance.now() - setupStart) / 1000;
    console.error(`fleet of ${nodes} up in ${setupS.toFixed(0)} s`);

    const port = await freePort();
    const metricsUrl = `http://127.0.0.1:${port}/metrics`;
    // The operator as it ships: compiled JavaScript, as the image runs it (ts-node and swc would add their own memory),
    // with the chart's runtime memory settings.
    const env = { LOG_LEVEL: 'warn', ...runtimeEnv };
    const operator = resources.add(new OperatorProcess(kubeconfig, ['--plan-selector', 'bench=scale', '--metrics-bind-address', `127.0.0.1:${port}`, '--workers', '2'], env, [...v8Flags, builtCli()]), (o) => o.stop());
    const pid = operator.pid!;
    // Thousands of simulated agents share this process's event loop: give them time (the operator is what is measured).
    const selector = { selector: { nodeSelector: { matchLabels: HYPERVISOR } }, timeouts: { prepare: '10m', nodeReturn: '10m', verify: '10m', finish: '10m' } };
    const preview = planFor(fleet, { mode: 'Preview' }, selector, { bench: 'scale' });
    const execute = planFor(fleet, { maxInFlight: 10, maxUnavailable: 10, steps: [{ nodes: 10, pause: {} }, { nodes: '100%' }] }, selector, { bench: 'scale' });
    const plans = planResource(kc);
    await plans.create(preview);
    const previewed = await untilPlan(kc, preview.metadata.name, 'Previewed', (s) => s.phase === 'Previewed' && (s.preview?.order.length ?? 0) > 0, 300_000, () => operator.log.slice(-3000));
    await plans.create(execute);
    await untilPlan(kc, execute.metadata.name, 'canary done, paused', (s) => s.phase === 'Paused', 300_000, () => operator.log.slice(-3000));

    // Idle: both plans in place, nothing changing.
    const idleCpu0 = await cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const idleCpu = (await cpuSeconds(pid)) - idleCpu0;
    const rss = await rssBytes(pid);
    const idleMetrics = await scrape(metricsUrl);
    const heap = idleMetrics('nodejs_heap_size_used_bytes');
    const heapTotal = idleMetrics('nodejs_heap_size_total_bytes');
    const external = idleMetrics('nodejs_external_memory_bytes');
    const passCount = idleMetrics('liveupdate_plan_pass_seconds_count');
    const passSum = idleMetrics('liveupdate_plan_pass_seconds_sum');
    const passes = await timePlanningPass(kc, execute.metadata.name, 20);

    // Churn: approve the canary; the rollout runs at maxInFlight 10 while we count reconciles.
    const reconciles0 = idleMetrics('controller_runtime_reconcile_total', { controller: 'liveupdateplan' });
    const churnCpu0 = await cpuSeconds(pid);
    await plans.patch(execute.metadata.name, { spec: { approvals: [{ step: 0, by: 'bench', at: new Date().toISOString() }] } });
    await new Promise((r) => setTimeout(r, churnS * 1000));
    const churnMetrics = await scrape(metricsUrl);
    const reconciles = churnMetrics('controller_runtime_reconcile_total', { controller: 'liveupdateplan' }) - reconciles0;
    const churnCpu = (await cpuSeconds(pid)) - churnCpu0;
    const churnRss = await rssBytes(pid);
    const progress = (await plans.get(execute.metadata.name)).status?.progress;

    console.log(`operator runtime: ${Object.entries(runtimeEnv).map(([k, v]) => `${k}=${v}`).join(' ')}${v8Flags.length ? `, V8 flags ${v8Flags.join(' ')}` : ''}`);
    console.log(`scale: ${nodes} simulated nodes (gpu8 / nvme-sriov inventories, in-process agents on one shared informer), fleet set-up ${setupS.toFixed(0)} s`);
    console.log(`plans: ${preview.metadata.name} Preview (${previewed.preview?.order.length} nodes in order), ${execute.metadata.name} Execute (canary 10, then maxInFlight 10; ${progress} after churn)`);
    console.log(`${machineLine()}\n`);
    publish([
      maxRow(`Scale: operator RSS, ${nodes} nodes, 2 plans, idle`, 256, rss / 2 ** 20, 'MB'),
      maxRow(`Scale: operator heap used / total / external, ${nodes} nodes, idle`, undefined, heap / 2 ** 20, `MB / ${(heapTotal / 2 ** 20).toFixed(0)} MB / ${(external / 2 ** 20).toFixed(0)} MB`),
      maxRow(`Scale: operator CPU while idle (${idleS} s, no changes)`, 2, (idleCpu / idleS) * 100, '% of a core', 2),
      p99Row(`Scale: planning pass, ${nodes} nodes (views + planner, timed here)`, 100, passes, 'ms', 1),
      maxRow(`Scale: planning pass in the operator (liveupdate_plan_pass_seconds mean of ${passCount})`, 100, (passSum / passCount) * 1000, 'ms', 1),
      maxRow(`Scale: reconciles per second under churn (rollout at maxInFlight 10, ${churnS} s)`, undefined, reconciles / churnS, '/s', 1),
      maxRow('Scale: operator CPU under churn', undefined, (churnCpu / churnS) * 100, '% of a core', 1),
      maxRow('Scale: operator RSS after churn', 256, churnRss / 2 ** 20, 'MB'),
    ]);
  } finally {
    await resources.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
