// A whole rollout on the real apiserver: the operator as its own process (as a Deployment runs it), a simulated fleet
// with the real agent in-process (one event loop for all agents: a process each would not fit 2 cores), one plan over
// every node. Times come from the apiserver's audit log (when each write completed, in microseconds), not from this
// busy process's clock. The operator's writes to a node's LiveUpdateNode are, in order: the claim with Prepare,
// Execute, Finish, and Succeeded with the claim released. Prints:
//   handoff   a node's Succeeded write → the next node's Prepare write (the k-th success frees the slot the
//             (k + maxInFlight)-th Prepare takes);
//   makespan  plan created → last node Succeeded, over ideal = ceil(N / maxInFlight) × the mean per-node time
//             (Prepare written → Succeeded written) of the same run;
//   writes    API writes per node update, by who (operator / agent) and what.
// Usage: npm run bench:rollout -- [--nodes 200] [--max-in-flight 10] [--reboot-seconds 2] [--operator-env 'K=V …' (default: the chart's operator.runtimeEnv; '' for none)]
import path from 'node:path';
import { parseArgs } from 'node:util';
import { auditTarget, type AuditEvent } from '../src/envtest/audit';
import { freePort } from '../src/envtest/free-port';
import { nodeResource, planResource } from '../src/kube/cluster-resource';
import { SimFleet } from '../src/sim/fleet';
import { loadNamedTopology } from '../src/sim/prepare';
import { projectPath } from '../src/util/package-root';
import { planFor, untilPlan } from '../test/support/e2e';
import { OperatorProcess } from '../test/support/operator-process';
import { waitFor } from '../test/support/wait';
import { benchIdentity } from './identities';
import { BenchResources, operatorRuntimeEnv } from './resources';
import { InProcessAgents } from './in-process-agents';
import { machineLine, maxRow, p99Row, publish, type Row } from './report';

const PLAN_LABELS = { bench: 'rollout' };

/** Hosts whose passthrough devices all do DMA (the shipped mixed-switch host has an idle one, so a plan skips it). */
function benchTopologies() {
  return Promise.all(['gpu8.json', 'nvme-sriov.json'].map((f) => loadNamedTopology(projectPath('src', 'host', 'sim', 'topologies', f))));
}

interface NodeTimes {
  /** The operator's first write to the node's LiveUpdateNode (the claim with Prepare): received, completed. */
  prepareReceived: number;
  prepare: number;
  /** Its last (Succeeded, claim released). */
  succeeded: number;
  writes: number;
  /** How long the apiserver itself spent on the start's writes (the cordon, if any, and the claim). */
  startServerMs: number;
}

/** The operator's writes per node from the audit log (ms since the epoch, µs precision). */
function nodeTimes(events: readonly AuditEvent[], operator: string, nodes: readonly string[]): Map<string, NodeTimes> {
  const times = new Map<string, NodeTimes>();
  const cordonMs = new Map<string, number>();
  const wanted = new Set(nodes);
  for (const e of events) {
    const name = e.objectRef?.name ?? '';
    if (e.user.username !== operator || !wanted.has(name) || !e.stageTimestamp || !e.requestReceivedTimestamp) continue;
    const [received, at] = [microTime(e.requestReceivedTimestamp), microTime(e.stageTimestamp)];
    if (auditTarget(e) === 'nodes' && !times.has(name) && !cordonMs.has(name)) cordonMs.set(name, at - received);
    if (auditTarget(e) !== 'liveupdatenodes') continue;
    const t = times.get(name);
    if (t) Object.assign(t, { succeeded: at, writes: t.writes + 1 });
    else times.set(name, { prepareReceived: received, prepare: at, succeeded: at, writes: 1, startServerMs: (cordonMs.get(name) ?? 0) + at - received });
  }
  return times;
}

/** RFC 3339 with microseconds → ms since the epoch, keeping the fraction (Date.parse drops it). */
function microTime(value: string): number {
  const fraction = /\.(\d+)Z$/.exec(value)?.[1] ?? '0';
  return Date.parse(value.replace(/\.\d+Z$/, 'Z')) + Number(`0.${fraction}`) * 1000;
}

/** Waits until the operator's /readyz says its caches are synced, so its start-up is not counted in the makespan. */
async function operatorReady(port: number): Promise<void> {
  await waitFor('the operator ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.ok === true, 60_000, 50);
}

/** Writes after the plan was created, per node update, split by who and what. */
function writeRows(events: readonly AuditEvent[], users: { operator: string; agent: string }, nodes: number): { rows: Row[]; detail: string } {
  const what = (e: AuditEvent): string => {
    const target = auditTarget(e);
    if (target === 'liveupdatenodes') return 'LiveUpdateNode spec/metadata';
    if (target === 'liveupdatenodes/status') return 'LiveUpdateNode status';
    if (target === 'liveupdateplans' || target === 'liveupdateplans/status') return `plan ${target.includes('/') ? 'status' : 'metadata'}`;
    if (target === 'nodes' || target === 'nodes/status') return 'Node';
    if (target === 'events') return 'Event';
    if (target === 'leases') return 'Lease';
    return target;
  };
  const count = (user: string) => {
    const byWhat = new Map<string, number>();
    for (const e of events) if (e.user.username === user) byWhat.set(what(e), (byWhat.get(what(e)) ?? 0) + 1);
    return byWhat;
  };
  const operator = count(users.operator);
  const agent = count(users.agent);
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const perNode = (n: number) => n / nodes;
  const split = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${perNode(v).toFixed(2)}`).join(', ');
  return {
    rows: [
      maxRow('Rollout: API writes per node update, operator (audit log)', undefined, perNode(total(operator)), 'writes', 2),
      maxRow('Rollout: API writes per node update, agent (audit log)', undefined, perNode(total(agent)), 'writes', 2),
      maxRow('Rollout: API writes per node update, operator + agent', 12, perNode(total(operator) + total(agent)), 'writes', 2),
    ],
    detail: `operator per node: ${split(operator)}\nagent per node: ${split(agent)}`,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { nodes: { type: 'string', default: '200' }, 'max-in-flight': { type: 'string', default: '10' }, 'reboot-seconds': { type: 'string', default: '2' }, 'operator-env': { type: 'string' } },
  });
  const nodes = Number(values.nodes);
  const maxInFlight = Number(values['max-in-flight']);
  const rebootSeconds = Number(values['reboot-seconds']);
  if (![nodes, maxInFlight].every((n) => Number.isInteger(n) && n >= 1) || !(rebootSeconds >= 0)) throw new Error('--nodes and --max-in-flight must be whole numbers >= 1, --reboot-seconds >= 0');

  const resources = new BenchResources();
  try {
    const { plane, admin } = await resources.controlPlane({ audit: true });
    const dir = await resources.scratchDir('bench-rollout-');
    const operatorId = await benchIdentity(admin, dir, 'bench-operator');
    const agentId = await benchIdentity(admin, dir, 'bench-agent');

    const setupStart = performance.now();
    const agents = resources.add(new InProcessAgents(agentId.kc), (a) => a.stop());
    agents.start();
    const fleet = resources.add(
      await SimFleet.start({
      kc: admin,
      dir: path.join(dir, 'fleet'),
      nodes,
      prefix: 'bench',
      topologies: await benchTopologies(),
      rebootSeconds,
      kernels: ['6.19.4-lu2'],
      fullKubeletStatus: true,
      agents: { kind: 'in-process', run: agents.run },
      }),
      (f) => f.stop(),
    );
    await fleet.settled();
    const records = nodeResource(admin);
    const fleetNodes = fleet.nodes;
    await waitFor('every agent reported', async () => (await records.list()).filter((r) => fleetNodes.includes(r.metadata.name ?? '') && r.status?.bootID).length === nodes, 120_000, 250);
    const setupS = (performance.now() - setupStart) / 1000;

    const probePort = await freePort();
    const op = resources.add(new OperatorProcess(operatorId.file, ['--plan-selector', 'bench=rollout', '--workers', '2', '--health-probe-bind-address', `127.0.0.1:${probePort}`], { LOG_LEVEL: 'warn', ...operatorRuntimeEnv(values['operator-env']) }), (o) => o.stop());
    const operatorDied = op.exit.then(({ code, signal }) => Promise.reject(new Error(`the operator exited (${signal ?? code}):\n${op.log.slice(-4000)}`)));
    operatorDied.catch(() => undefined); // handled by the races below; after them, a stopped operator is no news
    await Promise.race([operatorReady(probePort), operatorDied]);

    const auditBefore = (await plane.auditLog()).length;
    const plan = planFor(fleet, { maxInFlight, maxUnavailable: maxInFlight }, {}, PLAN_LABELS);
    await planResource(admin).create(plan);
    const waves = Math.ceil(nodes / maxInFlight);
    const ended = untilPlan(admin, plan.metadata.name, 'Completed', (s) => s.phase === 'Completed' || s.phase === 'Halted' || s.phase === 'Failed', 120_000 + waves * (rebootSeconds + 10) * 1000, () => op.log.slice(-4000));
    await Promise.race([ended, operatorDied]);
    const status = (await planResource(admin).get(plan.metadata.name)).status;
    if (status?.phase !== 'Completed') throw new Error(`the plan ended ${status?.phase}: ${JSON.stringify(status?.failedNodes ?? status?.conditions)}`);
    // Status writes complete before the plan says Completed; Events are best effort and may land a moment later.
    await new Promise((r) => setTimeout(r, 500));
    const audit = (await plane.auditLog()).slice(auditBefore);

    const created = audit.find((e) => e.verb === 'create' && auditTarget(e) === 'liveupdateplans' && e.objectRef?.name === plan.metadata.name)?.stageTimestamp;
    const times = nodeTimes(audit, operatorId.user, fleet.nodes);
    const incomplete = fleet.nodes.filter((n) => (times.get(n)?.writes ?? 0) < 4);
    if (!created || incomplete.length) throw new Error(`the audit log lacks the plan's creation or a node's four operator writes (e.g. ${incomplete[0]}); plan summary ${JSON.stringify(status.summary)}`);
    const all = [...times.values()];
    const succeeded = all.map((t) => t.succeeded).sort((a, b) => a - b);
    const starts = [...all].sort((a, b) => a.prepare - b.prepare);
    const handoffs = succeeded.slice(0, nodes - maxInFlight).map((s, k) => starts[k + maxInFlight]!.prepare - s);
    // What of each handoff the apiserver spent processing the start's own writes; the rest is the operator and queueing.
    const serverMs = succeeded.slice(0, nodes - maxInFlight).map((_, k) => starts[k + maxInFlight]!.startServerMs);
    const perNode = all.map((t) => t.succeeded - t.prepare);
    const meanPerNode = perNode.reduce((a, b) => a + b, 0) / perNode.length;
    const makespan = succeeded.at(-1)! - microTime(created);
    const ideal = waves * meanPerNode;
    const writes = writeRows(audit, { operator: operatorId.user, agent: agentId.user }, nodes);

    console.log(`rollout: ${nodes} simulated nodes (in-process agents), maxInFlight ${maxInFlight}, simulated reboot ${rebootSeconds} s; fleet set-up ${setupS.toFixed(1)} s`);
    console.log(`${machineLine()}\n`);
    publish([
      p99Row(`Rollout: handoff, Succeeded → next Prepare written (${nodes} nodes, maxInFlight ${maxInFlight}; audit log)`, 20, handoffs, 'ms', 1),
      p99Row('Rollout: of which the apiserver processing the cordon and the claim', undefined, serverMs, 'ms', 1),
      p99Row('Rollout: of which the operator (and waiting for the apiserver)', undefined, handoffs.map((h, k) => h - serverMs[k]!), 'ms', 1),
      p99Row('Rollout: per-node time, Prepare written → Succeeded written', undefined, perNode.map((ms) => ms / 1000), 's', 2),
      maxRow(`Rollout: makespan / ideal (${(makespan / 1000).toFixed(1)} s / ${waves} × ${(meanPerNode / 1000).toFixed(2)} s)`, 1.05, makespan / ideal, '', 3),
      ...writes.rows,
    ]);
    console.log(`\n${writes.detail}`);
    if (handoffs.some((h) => h < 0)) console.log(`note: ${handoffs.filter((h) => h < 0).length} handoff(s) negative: a Prepare was written before the success that should have freed its slot`);
  } finally {
    await resources.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
