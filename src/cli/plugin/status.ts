// `status PLAN [--watch]`: the plan and its nodes, once or re-rendered on every change (watches through informers).
import { createLogUpdate } from 'log-update';
import type { KubeConfig } from '@kubernetes/client-node';
import type { CoreNode } from '../../api/core-node';
import type { LiveUpdateNode } from '../../api/node';
import type { LiveUpdatePlan } from '../../api/plan';
import { Informer } from '../../kube/informer';
import { coreNodeKind, nodeRecordKind, planKind } from '../../kube/kinds';
import { durationFlag } from '../usage';
import { withCluster, type KubeFlags } from './kube';
import { formatOutput, planNodeRows, renderStatus, SETTLED_PHASES, type NodeRow, type OutputFormat } from './render';

export interface StatusOptions extends KubeFlags {
  plan: string;
  output?: OutputFormat;
  watch?: boolean;
  timeout?: string;
}

interface Snapshot {
  plan: LiveUpdatePlan;
  rows: NodeRow[];
  /** The Nodes could not be listed (RBAC): pending nodes are counted, not named. */
  pendingUnnamed: boolean;
}

function snapshot(plan: LiveUpdatePlan, records: readonly LiveUpdateNode[], nodes: readonly CoreNode[] | undefined): Snapshot {
  const selectable = nodes?.map((n) => ({ name: n.metadata.name ?? '', labels: n.metadata.labels ?? {} }));
  return { plan, rows: planNodeRows(plan, records, selectable), pendingUnnamed: nodes === undefined };
}

function print(s: Snapshot, format: OutputFormat | undefined): string {
  return format ? formatOutput({ plan: s.plan, nodes: s.rows }, format) : renderStatus(s.plan, s.rows, Date.now(), s.pendingUnnamed);
}

/** Settled: the operator has acted on the latest spec and the phase is one only a human (or nothing) changes. */
function settled(plan: LiveUpdatePlan): boolean {
  const { status, metadata } = plan;
  return SETTLED_PHASES.has(status?.phase ?? '') && (status?.observedGeneration ?? -1) >= (metadata.generation ?? 0);
}

export async function run(options: StatusOptions): Promise<number> {
  const timeoutMs = options.timeout === undefined ? undefined : durationFlag('--timeout', options.timeout);
  return withCluster(options, async (api) => {
    const plan = await api.plan(options.plan);
    const [records, nodes] = await Promise.all([api.records.list(), api.coreNodes()]);
    if (!options.watch) {
      process.stdout.write(print(snapshot(plan, records, nodes), options.output));
      return 0;
    }
    return watch(api.kc, options, nodes !== undefined, timeoutMs);
  });
}

/** Where frames go: redrawn in place on a terminal; appended, one per change, to a file or pipe. */
function frames(format: OutputFormat | undefined): { show(text: string, key: string): void; done(): void } {
  if (process.stdout.isTTY && !format) {
    const frame = createLogUpdate(process.stdout);
    return { show: (text) => frame(text.trimEnd()), done: () => frame.done() };
  }
  let last = '';
  return {
    show: (text, key) => {
      if (key === last) return;
      last = key;
      process.stdout.write(format ? text : `${text}\n`);
    },
    done: () => undefined,
  };
}

async function watch(kc: KubeConfig, options: StatusOptions, listNodes: boolean, timeoutMs: number | undefined): Promise<number> {
  const name = options.plan;
  const plans = new Informer({ kc, kind: planKind, fieldSelector: `metadata.name=${name}`, resyncMs: 0 });
  const records = new Informer({ kc, kind: nodeRecordKind, resyncMs: 0 });
  const nodes = listNodes ? new Informer({ kc, kind: coreNodeKind, resyncMs: 0 }) : undefined;
  const informers = [plans, records, ...(nodes ? [nodes] : [])];
  const out = frames(options.output);
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));

  // Renders start once every cache has its first list: before, a plan not yet listed would read as deleted.
  let synced = false;
  let scheduled = false;
  const render = (): void => {
    scheduled = false;
    const plan = plans.get(name);
    if (!plan) {
      process.stderr.write(`plan "${name}" was deleted\n`);
      return finish(1);
    }
    const s = snapshot(plan, records.list(), nodes?.list());
    // A new frame when the plan or a row changed, not when only ages moved on.
    out.show(print(s, options.output), JSON.stringify([plan.metadata.resourceVersion, s.rows]));
    if (settled(plan)) finish(plan.status?.phase === 'Completed' || plan.status?.phase === 'Previewed' ? 0 : 1);
  };
  const schedule = (): void => {
    if (!synced || scheduled) return;
    scheduled = true;
    setImmediate(render);
  };
  const onSignal = (): void => finish(130);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
    process.stderr.write(`timed out after ${options.timeout}: plan ${name} is ${plans.get(name)?.status?.phase ?? 'unknown'}\n`);
    finish(1);
  }, timeoutMs);
  const ticker = process.stdout.isTTY && !options.output ? setInterval(schedule, 1000) : undefined;
  try {
    for (const informer of informers) {
      informer.addHandler({ add: schedule, update: schedule, delete: schedule });
      informer.start();
    }
    const lists = await Promise.race([Promise.all(informers.map((i) => i.waitForSync())), finished]);
    if (Array.isArray(lists)) {
      synced = true;
      schedule();
    }
    return await finished;
  } finally {
    clearTimeout(timer);
    clearInterval(ticker);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    out.done();
    await Promise.all(informers.map((i) => i.stop()));
  }
}
