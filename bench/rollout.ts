// A whole rollout on the real apiserver: the operator as its own process (as a Deployment runs it), a simulated fleet
// with the real agent in-process (one event loop for all agents: a process each would not fit 2 cores), one plan over
// every node. Prints:
//   handoff   a node's mark becomes Succeeded → the next node's Prepare is written (the k-th success frees the slot
//             the (k + maxInFlight)-th Prepare takes), both seen through one watch, so its delay cancels out;
//   makespan  plan created → last node Succeeded, over ideal = ceil(N / maxInFlight) × the mean per-node time
//             (claimed → Succeeded) of the same run;
//   writes    API writes per node update from the apiserver's audit log, by who (operator / agent) and what.
// Usage: npm run bench:rollout -- [--nodes 200] [--max-in-flight 10] [--reboot-seconds 2]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import type { LiveUpdateNode } from '../src/api/node';
import { auditTarget, type AuditEvent } from '../src/envtest/audit';
import { LocalControlPlane } from '../src/envtest/control-plane';
import { planResource } from '../src/kube/cluster-resource';
import { Informer } from '../src/kube/informer';
import { nodeRecordKind } from '../src/kube/kinds';
import { readMark } from '../src/operator/views';
import { SimFleet } from '../src/sim/fleet';
import { loadNamedTopology } from '../src/sim/prepare';
import { projectPath } from '../src/util/package-root';
import { planFor, untilPlan } from '../test/support/e2e';
import { OperatorProcess } from '../test/support/operator-process';
import { waitFor } from '../test/support/wait';
import { benchIdentity } from './identities';
import { InProcessAgents } from './in-process-agents';
import { machineLine, maxRow, p99Row, publish, type Row } from './report';

const PLAN_LABELS = { bench: 'rollout' };

/** Hosts whose passthrough devices all do DMA (the shipped mixed-switch host has an idle one, so a plan skips it). */
function benchTopologies() {
  return Promise.all(['gpu8.json', 'nvme-sriov.json'].map((f) => loadNamedTopology(projectPath('src', 'host', 'sim', 'topologies', f))));
}

/** What the bench's watch saw of each node, in performance.now() ms. */
interface NodeTimes {
  claimed?: number;
  prepareWritten?: number;
  succeeded?: number;
}

/** Watches every LiveUpdateNode and notes when the plan claimed it, asked it to Prepare and marked it Succeeded. */
class RolloutWatch {
  readonly times = new Map<string, NodeTimes>();
  private readonly informer: Informer<LiveUpdateNode>;
  planUid = '';

  constructor(kc: KubeConfig) {
    this.informer = new Informer({ kc, kind: nodeRecordKind });
    const note = (record: LiveUpdateNode) => {
      if (!this.planUid) return;
      const at = performance.now();
      const name = record.metadata.name ?? '';
      const t = this.times.get(name) ?? {};
      const mark = readMark(record);
      const ours = mark?.planUid === this.planUid;
      if (ours && t.claimed === undefined) t.claimed = at;
      if (ours && record.spec.action === 'Prepare' && t.prepareWritten === undefined) t.prepareWritten = at;
      if (ours && mark.phase === 'Succeeded' && t.succeeded === undefined) t.succeeded = at;
      this.times.set(name, t);
    };
    this.informer.addHandler({ add: note, update: (_, r) => note(r) });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  reported(nodes: readonly string[]): boolean {
    return nodes.every((n) => this.informer.get(n)?.status?.bootID);
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }
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
    options: { nodes: { type: 'string', default: '200' }, 'max-in-flight': { type: 'string', default: '10' }, 'reboot-seconds': { type: 'string', default: '2' } },
  });
  const nodes = Number(values.nodes);
  const maxInFlight = Number(values['max-in-flight']);
  const rebootSeconds = Number(values['reboot-seconds']);
  if (![nodes, maxInFlight].every((n) => Number.isInteger(n) && n >= 1) || !(rebootSeconds >= 0)) throw new Error('--nodes and --max-in-flight must be whole numbers >= 1, --reboot-seconds >= 0');

  let plane: LocalControlPlane | undefined;
  let fleet: SimFleet | undefined;
  let operator: OperatorProcess | undefined;
  let watch: RolloutWatch | undefined;
  let agents: InProcessAgents | undefined;
  let dir: string | undefined;
  let stopping: Promise<void> | undefined;
  const cleanup = () =>
    (stopping ??= (async () => {
      await operator?.stop();
      await fleet?.stop();
      await agents?.stop();
      await watch?.stop();
      await plane?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    })());
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));

  try {
    plane = await LocalControlPlane.start({ crdDir: path.resolve(__dirname, '../crds'), audit: true });
    const admin = new KubeConfig();
    admin.loadFromString(plane.kubeconfig());
    dir = await mkdtemp(path.join(os.tmpdir(), 'bench-rollout-'));
    const operatorId = await benchIdentity(admin, dir, 'bench-operator');
    const agentId = await benchIdentity(admin, dir, 'bench-agent');
    watch = new RolloutWatch(admin);
    await watch.start();

    const setupStart = performance.now();
    agents = new InProcessAgents(agentId.kc);
    agents.start();
    fleet = await SimFleet.start({
      kc: admin,
      dir: path.join(dir, 'fleet'),
      nodes,
      prefix: 'bench',
      topologies: await benchTopologies(),
      rebootSeconds,
      kernels: ['6.19.4-lu2'],
      agents: { kind: 'in-process', run: agents.run },
    });
    await fleet.settled();
    const started = fleet;
    await waitFor('every agent reported', () => watch!.reported(started.nodes), 120_000, 50);
    const setupS = (performance.now() - setupStart) / 1000;

    operator = new OperatorProcess(operatorId.file, ['--plan-selector', 'bench=rollout', '--workers', '2'], { LOG_LEVEL: 'warn' });
    const auditBefore = (await plane.auditLog()).length;
    const plan = planFor(fleet, { maxInFlight, maxUnavailable: maxInFlight }, {}, PLAN_LABELS);
    const created = performance.now();
    const createdPlan = await planResource(admin).create(plan);
    watch.planUid = createdPlan.metadata.uid ?? '';
    const waves = Math.ceil(nodes / maxInFlight);
    const op = operator;
    const ended = untilPlan(admin, plan.metadata.name, 'Completed', (s) => s.phase === 'Completed' || s.phase === 'Halted' || s.phase === 'Failed', 120_000 + waves * (rebootSeconds + 10) * 1000, () => op.log.slice(-4000));
    const operatorDied = op.exit.then(({ code, signal }) => Promise.reject(new Error(`the operator exited (${signal ?? code}) during the rollout:\n${op.log.slice(-4000)}`)));
    operatorDied.catch(() => undefined); // handled by the race; after it, a stopped operator is no news
    await Promise.race([ended, operatorDied]);
    const status = (await planResource(admin).get(plan.metadata.name)).status;
    if (status?.phase !== 'Completed') throw new Error(`the plan ended ${status?.phase}: ${JSON.stringify(status?.failedNodes ?? status?.conditions)}`);
    // Status writes complete before the plan says Completed; Events are best effort and may land a moment later.
    await new Promise((r) => setTimeout(r, 500));
    const audit = (await plane.auditLog()).slice(auditBefore);

    const times = fleet.nodes.map((n) => ({ node: n, ...watch!.times.get(n) }));
    const missing = times.filter((t) => t.claimed === undefined || t.prepareWritten === undefined || t.succeeded === undefined);
    if (missing.length) throw new Error(`the watch missed steps of ${missing.length} node(s), e.g. ${JSON.stringify(missing[0])}; plan summary ${JSON.stringify(status.summary)}, skipped ${JSON.stringify(status.skippedNodes?.slice(0, 3))}`);
    const succeeded = times.map((t) => t.succeeded!).sort((a, b) => a - b);
    const prepares = times.map((t) => t.prepareWritten!).sort((a, b) => a - b);
    const handoffs = succeeded.slice(0, nodes - maxInFlight).map((s, k) => prepares[k + maxInFlight]! - s);
    const perNode = times.map((t) => t.succeeded! - t.claimed!);
    const meanPerNode = perNode.reduce((a, b) => a + b, 0) / perNode.length;
    const makespan = succeeded.at(-1)! - created;
    const ideal = waves * meanPerNode;
    const writes = writeRows(audit, { operator: operatorId.user, agent: agentId.user }, nodes);

    console.log(`rollout: ${nodes} simulated nodes (in-process agents), maxInFlight ${maxInFlight}, simulated reboot ${rebootSeconds} s; fleet set-up ${setupS.toFixed(1)} s`);
    console.log(`${machineLine()}\n`);
    publish([
      p99Row(`Rollout: handoff, Succeeded → next Prepare written (${nodes} nodes, maxInFlight ${maxInFlight})`, 20, handoffs),
      p99Row('Rollout: per-node time, claimed → Succeeded', undefined, perNode.map((ms) => ms / 1000), 's', 2),
      maxRow(`Rollout: makespan / ideal (${(makespan / 1000).toFixed(1)} s / ${waves} × ${(meanPerNode / 1000).toFixed(2)} s)`, 1.05, makespan / ideal, '', 3),
      ...writes.rows,
    ]);
    console.log(`\n${writes.detail}`);
    if (handoffs.some((h) => h < 0)) console.log(`note: ${handoffs.filter((h) => h < 0).length} handoff(s) negative: a Prepare was written before the success that should have freed its slot`);
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
