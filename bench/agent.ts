// The agent's figures (issue 8): Execute seen → kexec issued, boot → first status report, and the agent's API writes
// per node update counted from the apiserver's audit log. On its own control plane, with the real agent on simulated
// hosts; the bench plays the operator (writes the LiveUpdateNode spec) and the machine (restarts the agent after the
// simulated kexec at once: the "boot" is the new run's start). Updates run one after another, so the figures are
// latencies of an unloaded agent. Agents run in-process (runAgent, one SimHost open per run, as sim/fleet.ts does) for
// the bulk; a few run as OS processes, whose boot figure includes Node and ts-node start-up.
// Usage: npm run bench:agent -- [runs]   (default 50; process runs: min(5, runs))
import { randomUUID } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { runAgent } from '../src/agent/agent';
import type { AgentExit } from '../src/agent/contract';
import type { LiveUpdateNode, LiveUpdateNodeStatus } from '../src/api/node';
import { auditTarget, type AuditEvent } from '../src/envtest/audit';
import { SimHost } from '../src/host/sim/host';
import { sleep } from '../src/kube/backoff';
import { nodeResource } from '../src/kube/cluster-resource';
import { Informer } from '../src/kube/informer';
import { nodeRecordKind } from '../src/kube/kinds';
import { installKernels, type KernelsIndex } from '../src/sim/kernels';
import { nodePaths, sharedImageDir, topologyOf, type NamedTopology } from '../src/sim/layout';
import { defaultTopologyMix, NO_PASSTHROUGH, prepareNode } from '../src/sim/prepare';
import { AgentProcess } from '../test/support/agent-process';
import { waitFor } from '../test/support/wait';
import { benchIdentity } from './identities';
import { BenchResources } from './resources';
import { machineLine, p99Row, publish } from './report';

const TARGET = '6.19.4-lu2';
const AGENT_ACCOUNT = 'bench-agent';
const STATUS_TIMEOUT_MS = 30_000;
/**
 * Simulated reboot time between the kexec and the agent's restart (sim/fleet.ts's default). Not in any figure, but
 * needed: the agent samples the DMA counters' "before" time ahead of reading them (actions.ts), a shortfall of one
 * read (~20 ms here) that the 2 % continuity tolerance absorbs over a realistic reboot and not over an instant one.
 */
const REBOOT_MS = 2000;

/** One agent run, whichever way it runs: `ready` resolves at its first status report, `exit` when it ends. */
interface AgentRun {
  startedAt: number;
  ready: Promise<number>;
  exit: Promise<AgentExit | { code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

interface UpdateFigures {
  node: string;
  /** status.timings.kexecMs: the agent's own Execute seen → just before reboot(KEXEC). */
  kexecMs: number;
  /** The Execute patch returned → the bench's watch delivered a status with kexecIssuedAt. */
  kexecObservedMs: number;
  /** The agent's start after the simulated kexec → its first status write. */
  bootMs: number;
}

/** Endpoints a VM is doing DMA through (vfio-pci, bus master set): what an operator would ask to preserve. */
const passthrough = (s: LiveUpdateNodeStatus) => (s.devices ?? []).filter((d) => d.driver === 'vfio-pci' && d.busMaster).map((d) => d.bdf);

class AgentBench {
  private readonly abort = new AbortController();
  private readonly running = new Set<AgentRun>();
  /** performance.now() when the watch first delivered a status with kexecIssuedAt, by node. */
  private readonly kexecSeen = new Map<string, number>();
  private readonly records;
  private readonly informer: Informer<LiveUpdateNode>;

  constructor(
    admin: KubeConfig,
    private readonly agentKc: KubeConfig,
    private readonly agentKubeconfigFile: string,
    private readonly fleetDir: string,
    private readonly kernels: KernelsIndex,
    private readonly topologies: NamedTopology[],
  ) {
    this.records = nodeResource(admin);
    this.informer = new Informer({ kc: admin, kind: nodeRecordKind });
    const note = (o: LiveUpdateNode) => {
      const name = o.metadata.name!;
      if (o.status?.kexecIssuedAt && !this.kexecSeen.has(name)) this.kexecSeen.set(name, performance.now());
    };
    this.informer.addHandler({ add: note, update: (_, o) => note(o) });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all([...this.running].map((r) => r.stop()));
    await this.informer.stop();
  }

  /** One node, one full update: inventory → Prepare → Execute → kexec → restart → Verified → Finish. */
  async update(index: number, mode: 'in-process' | 'process'): Promise<UpdateFigures> {
    const node = `bench-${mode === 'process' ? 'proc' : 'inproc'}-${String(index).padStart(3, '0')}`;
    const paths = nodePaths(this.fleetDir, node);
    await prepareNode({ dir: paths.simDir, node, topology: topologyOf(this.topologies, index).topology, sharedImageDir: paths.imageDir });
    const start = () => (mode === 'process' ? this.processRun(node) : this.inProcessRun(node));

    const first = start();
    const idle = await this.until(node, 'inventory', (s) => s.phase === 'Idle' && (s.devices?.length ?? 0) > 0);
    const k = this.kernels[TARGET]!;
    await this.records.patch(node, {
      spec: {
        planRef: { name: 'bench', uid: randomUUID() },
        attempt: 1,
        action: 'Prepare',
        target: { release: TARGET, image: k.image, sha256: k.sha256 },
        compatibleFrom: ['6.19.*'],
        preserve: passthrough(idle).map((bdf) => ({ bdf })),
      },
    });
    await this.until(node, 'Prepared', (s) => s.phase === 'Prepared');

    await this.records.patch(node, { spec: { action: 'Execute' } });
    const executePatched = performance.now();
    await first.exit;
    this.running.delete(first);
    await sleep(REBOOT_MS, this.abort.signal);
    const second = start();
    const bootMs = (await second.ready) - second.startedAt;
    const verified = await this.until(node, 'Verified', (s) => s.phase === 'Verified');
    await this.records.patch(node, { spec: { action: 'Finish' } });
    await this.until(node, 'Finished', (s) => s.phase === 'Finished');
    await second.stop();
    this.running.delete(second);
    return { node, kexecMs: verified.timings?.kexecMs ?? NaN, kexecObservedMs: this.kexecSeen.get(node)! - executePatched, bootMs };
  }

  /** The node's status once `check` holds, as the bench's watch delivers it; fails at once on Failed. */
  private async until(node: string, what: string, check: (s: LiveUpdateNodeStatus) => boolean): Promise<LiveUpdateNodeStatus> {
    const status = await waitFor(
      `${node}: ${what}`,
      () => {
        const s = this.informer.get(node)?.status;
        return s && (s.phase === 'Failed' || check(s)) ? s : undefined;
      },
      STATUS_TIMEOUT_MS,
      5,
    );
    if (status.phase === 'Failed' && !check(status)) throw new Error(`${node} failed waiting for ${what}: ${JSON.stringify(status.lastError)}`);
    return status;
  }

  /** As sim/fleet.ts runs an in-process agent: a fresh SimHost per run (one open = one boot of the process). */
  private inProcessRun(node: string): AgentRun {
    const paths = nodePaths(this.fleetDir, node);
    const stop = new AbortController();
    const stopAll = () => stop.abort();
    this.abort.signal.addEventListener('abort', stopAll, { once: true });
    let readyAt!: (at: number) => void;
    const run: AgentRun = {
      startedAt: performance.now(),
      ready: new Promise((resolve) => (readyAt = resolve)),
      exit: (async () => {
        const host = await SimHost.open({ dir: paths.simDir, node, imageDir: paths.imageDir, onCrash: () => undefined });
        return runAgent({ kc: this.agentKc, node, host, stateDir: paths.stateDir, signal: stop.signal, onReady: () => readyAt(performance.now()) });
      })().finally(() => this.abort.signal.removeEventListener('abort', stopAll)),
      stop: async () => {
        stop.abort();
        await run.exit;
      },
    };
    this.running.add(run);
    return run;
  }

  private processRun(node: string): AgentRun {
    const startedAt = performance.now();
    const agent = new AgentProcess(this.agentKubeconfigFile, node, nodePaths(this.fleetDir, node));
    const run: AgentRun = { startedAt, ready: agent.ready.then(() => performance.now()), exit: agent.exit, stop: () => agent.stop() };
    this.running.add(run);
    return run;
  }
}

/** The agent's writes on one node, in log order: its LiveUpdateNode, the status subresource and its Events. */
function writesOn(events: readonly AuditEvent[], user: string, node: string): AuditEvent[] {
  return events.filter((e) => e.user.username === user && (e.objectRef?.name === node || (e.objectRef?.resource === 'events' && e.objectRef.name?.startsWith(`${node}.`))));
}

/** Splits a node's agent writes into the one-time ones (record creation, first inventory report) and the update's. */
function splitWrites(writes: readonly AuditEvent[]): { oneTime: AuditEvent[]; update: AuditEvent[] } {
  const create = writes.findIndex((e) => e.verb === 'create' && auditTarget(e) === 'liveupdatenodes');
  const inventory = writes.findIndex((e) => auditTarget(e) === 'liveupdatenodes/status');
  const oneTime = new Set([create, inventory].filter((i) => i >= 0));
  return { oneTime: writes.filter((_, i) => oneTime.has(i)), update: writes.filter((_, i) => !oneTime.has(i)) };
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 50);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs must be a whole number >= 1, got ${process.argv[2]}`);
  const processRuns = Math.min(5, runs);

  const resources = new BenchResources();
  try {
    const started = performance.now();
    const { plane, admin } = await resources.controlPlane({ audit: true });
    const fleetDir = await resources.scratchDir('bench-agent-');
    const agent = await benchIdentity(admin, fleetDir, AGENT_ACCOUNT);
    const kernels = await installKernels(sharedImageDir(fleetDir), fleetDir, [TARGET]);
    const topologies = (await defaultTopologyMix()).filter((t) => t.name !== NO_PASSTHROUGH.name);
    const bench = resources.add(new AgentBench(admin, agent.kc, agent.file, fleetDir, kernels, topologies), (b) => b.stop());
    await bench.start();

    const inProcess: UpdateFigures[] = [];
    for (let i = 0; i < runs; i++) inProcess.push(await bench.update(i, 'in-process'));
    const processes: UpdateFigures[] = [];
    for (let i = 0; i < processRuns; i++) processes.push(await bench.update(i, 'process'));
    const elapsedS = (performance.now() - started) / 1000;

    // Status writes complete before the bench sees them; Events are best effort and may land a moment later.
    await new Promise((r) => setTimeout(r, 500));
    const audit = await plane.auditLog();
    const perNode = [...inProcess, ...processes].map((u) => splitWrites(writesOn(audit, agent.user, u.node)));
    report(runs, processRuns, elapsedS, inProcess, processes, perNode);
  } finally {
    await resources.stop();
  }
}

function report(runs: number, processRuns: number, elapsedS: number, inProcess: UpdateFigures[], processes: UpdateFigures[], perNode: { oneTime: AuditEvent[]; update: AuditEvent[] }[]): void {
  const rows = [
    p99Row('Agent: Execute seen → kexec issued (timings.kexecMs), in-process', 100, inProcess.map((u) => u.kexecMs)),
    p99Row('Agent: Execute seen → kexec issued (timings.kexecMs), process', 100, processes.map((u) => u.kexecMs)),
    p99Row('Agent: Execute patch returned → kexecIssuedAt seen by a watch (+2 watch hops, 1 status write)', undefined, [...inProcess, ...processes].map((u) => u.kexecObservedMs)),
    p99Row('Agent: boot → first status report, in-process (run start → first status write)', 1000, inProcess.map((u) => u.bootMs)),
    p99Row('Agent: boot → first status report, process (spawn → ready line; node + ts-node start-up)', 1000, processes.map((u) => u.bootMs)),
    p99Row('Agent: API writes per successful node update (audit log)', 6, perNode.map((n) => n.update.length), 'writes'),
  ];
  const mean = (pick: (e: AuditEvent) => boolean, of: 'oneTime' | 'update') => (perNode.reduce((sum, n) => sum + n[of].filter(pick).length, 0) / perNode.length).toFixed(2);
  const by = (target: string) => (e: AuditEvent) => auditTarget(e) === target;
  console.log(`agent figures: ${runs} in-process + ${processRuns} process updates, one at a time, in ${elapsedS.toFixed(0)} s`);
  console.log(`${machineLine()}\n`);
  publish(rows);
  console.log(
    `\nwrites per update, mean by what: liveupdatenodes/status ${mean(by('liveupdatenodes/status'), 'update')}, liveupdatenodes ${mean(by('liveupdatenodes'), 'update')}, events ${mean(by('events'), 'update')}` +
      `\nexcluded, once per node (mean): LiveUpdateNode creation ${mean(by('liveupdatenodes'), 'oneTime')}, first inventory report ${mean(by('liveupdatenodes/status'), 'oneTime')}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
