// What the end-to-end tests share: a simulated fleet of agent processes on a given apiserver, a plan for it, the
// simulated hosts' boot counts, a watch on the fleet's LiveUpdateNodes, and a seeded random source.
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { LiveUpdateNode } from '../../src/api/node';
import type { LiveUpdatePlanStatus } from '../../src/api/plan';
import { nodeResource, planResource } from '../../src/kube/cluster-resource';
import { Informer } from '../../src/kube/informer';
import { nodeRecordKind } from '../../src/kube/kinds';
import { CORDONED_BY_ANNOTATION, type RolloutMark } from '../../src/operator/model';
import { readMark } from '../../src/operator/views';
import type { SimLuoApi } from '../../src/host/sim/kernel';
import { SimFleet } from '../../src/sim/fleet';
import { nodePaths, type NamedTopology } from '../../src/sim/layout';
import { loadNamedTopology } from '../../src/sim/prepare';
import { projectPath } from '../../src/util/package-root';
import { uniqueName } from './kube';
import { waitFor } from './wait';

export const TARGET = '6.19.4-lu2';
export const OLD_RELEASE = '6.19.0-sim';

export interface E2eFleet {
  fleet: SimFleet;
  dir: string;
  /** The simulated host's boot count (1 before any kexec). */
  boots(node: string): Promise<number>;
}

/** A fleet of `nodes` nvme-sriov hosts (or `topology`), one agent process each, every agent reported (its LiveUpdateNode has a boot id). */
export async function startFleet(kc: KubeConfig, kubeconfigFile: string, baseDir: string, nodes: number, options: { api?: SimLuoApi; prefix?: string; topology?: NamedTopology } = {}): Promise<E2eFleet> {
  const prefix = options.prefix ?? uniqueName('e2e');
  const dir = path.join(baseDir, prefix);
  const faultFile = path.join(baseDir, `${prefix}-faults.json`);
  await writeFile(faultFile, JSON.stringify({ nodes: {} }));
  const topology = options.topology ?? (await loadNamedTopology(projectPath('src', 'host', 'sim', 'topologies', 'nvme-sriov.json')));
  const fleet = await SimFleet.start({ kc, kubeconfigFile, dir, nodes, prefix, topologies: [topology], faultFile, rebootSeconds: 1, kernels: [TARGET], api: options.api });
  const records = nodeResource(kc);
  await fleet.settled();
  await waitFor('every agent reported', async () => {
    for (const n of fleet.nodes) if (!(await records.get(n).catch(() => undefined))?.status?.bootID) return false;
    return true;
  }, 60_000);
  const boots = async (node: string): Promise<number> => (JSON.parse(await readFile(path.join(nodePaths(dir, node).simDir, 'state.json'), 'utf8')) as { boots: number }).boots;
  return { fleet, dir, boots };
}

/** The last lines of every agent's log (for failure messages). */
export function agentLogTails(f: E2eFleet, lines = 12): string {
  return f.fleet.nodes
    .map((n) => {
      let text: string;
      try {
        text = readFileSync(nodePaths(f.dir, n).log, 'utf8');
      } catch {
        text = '(no log)';
      }
      return `--- ${n} agent log tail:\n${text.trim().split('\n').slice(-lines).join('\n')}`;
    })
    .join('\n');
}

/** Stops the fleet's agents and deletes its Node objects. */
export async function stopFleet(kc: KubeConfig, f: E2eFleet | undefined): Promise<void> {
  if (!f) return;
  await f.fleet.stop();
  const core = kc.makeApiClient(CoreV1Api);
  for (const n of f.fleet.nodes) await core.deleteNode({ name: n }).catch(() => undefined);
}

/** A plan for every node of the fleet; `labels` let a scoped operator (--plan-selector) find it. */
export function planFor(fleet: SimFleet, strategy: object = {}, extra: Record<string, unknown> = {}, labels: Record<string, string> = {}) {
  const kernel = fleet.kernels[TARGET]!;
  return {
    apiVersion: 'liveupdate.dev/v1alpha1',
    kind: 'LiveUpdatePlan',
    metadata: { name: uniqueName('plan'), labels },
    spec: {
      target: { kernel: { release: TARGET, image: kernel.image, sha256: kernel.sha256 }, compatibleFrom: ['6.19.*'] },
      selector: { nodeNames: fleet.nodes },
      strategy: { maxInFlight: 2, maxUnavailable: 2, ...strategy },
      timeouts: { prepare: '30s', nodeReturn: '20s', verify: '30s', finish: '30s' },
      ...extra,
    },
  };
}

/** Waits until the plan's status satisfies `check`; on timeout the error carries the last status and `context()`. */
export async function untilPlan(kc: KubeConfig, name: string, what: string, check: (s: LiveUpdatePlanStatus) => boolean, timeoutMs: number, context: () => string = () => ''): Promise<LiveUpdatePlanStatus> {
  const plans = planResource(kc);
  const status = async (): Promise<LiveUpdatePlanStatus> => (await plans.get(name)).status ?? {};
  return waitFor(`${name}: ${what}`, async () => {
    const s = await status();
    return check(s) ? s : undefined;
  }, timeoutMs, 200).catch(async (err: Error) => {
    const last = await status().catch(() => ({}));
    throw new Error(`${err.message}\nlast status: ${JSON.stringify(last)}\n${context()}`);
  });
}

/** What a user checks on each node once a plan is over: the operator's mark, the agent's report, the cordon. */
export interface NodeOutcome {
  node: string;
  mark: RolloutMark | undefined;
  record: LiveUpdateNode;
  unschedulable: boolean;
  cordonedBy: string | undefined;
  boots: number;
}

export async function outcomes(kc: KubeConfig, f: E2eFleet): Promise<NodeOutcome[]> {
  const records = nodeResource(kc);
  const core = kc.makeApiClient(CoreV1Api);
  return Promise.all(
    f.fleet.nodes.map(async (node) => {
      const record = await records.get(node);
      const n = await core.readNode({ name: node });
      return { node, mark: readMark(record), record, unschedulable: n.spec?.unschedulable === true, cordonedBy: n.metadata?.annotations?.[CORDONED_BY_ANNOTATION], boots: await f.boots(node) };
    }),
  );
}

/** Every change of the fleet's LiveUpdateNodes, as a watch delivers it (an informer: it reconnects by itself). */
export class RecordWatch {
  private readonly informer: Informer<LiveUpdateNode>;
  private readonly listeners = new Set<(old: LiveUpdateNode | undefined, record: LiveUpdateNode) => void>();

  constructor(kc: KubeConfig, nodes: readonly string[]) {
    const names = new Set(nodes);
    this.informer = new Informer({ kc, kind: nodeRecordKind, backoff: { initialMs: 100, maxMs: 1000 } });
    const deliver = (old: LiveUpdateNode | undefined, record: LiveUpdateNode) => {
      if (names.has(record.metadata.name ?? '')) for (const l of this.listeners) l(old, record);
    };
    this.informer.addHandler({ add: (r) => deliver(undefined, r), update: (o, r) => o !== r && deliver(o, r) });
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
  }

  get(node: string): LiveUpdateNode | undefined {
    return this.informer.get(node);
  }

  on(listener: (old: LiveUpdateNode | undefined, record: LiveUpdateNode) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves at the next change that satisfies `check` (or undefined after `timeoutMs`). */
  next<T>(check: (old: LiveUpdateNode | undefined, record: LiveUpdateNode) => T | undefined, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(undefined);
      }, timeoutMs);
      const off = this.on((old, record) => {
        const hit = check(old, record);
        if (hit === undefined) return;
        clearTimeout(timer);
        off();
        resolve(hit);
      });
    });
  }

  stop(): Promise<void> {
    this.listeners.clear();
    return this.informer.stop();
  }
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with E2E_SEED. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function testSeed(): number {
  const fromEnv = Number(process.env.E2E_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Math.floor(Math.random() * 2 ** 31) + 1;
}

