// `liveupdate demo`: a local control plane with the CRDs, the operator as its own process, a simulated fleet with
// one agent process per node, and an example plan with a canary step that the demo approves itself; live progress,
// then a summary judged against what the plan's policy prescribes. Everything it starts stops with it.
import { mkdir, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import type { LiveUpdatePlan } from '../api/plan';
import { LocalControlPlane } from '../envtest/control-plane';
import { planResource } from '../kube/cluster-resource';
import { Informer } from '../kube/informer';
import { nodeRecordKind, planKind } from '../kube/kinds';
import { errorSummary, type Logger } from '../kube/log';
import { retryOnConflict } from '../kube/retry';
import { SimFleet } from '../sim/fleet';
import { nodeNames, topologyOf } from '../sim/layout';
import { defaultTopologyMix } from '../sim/prepare';
import type { Display } from './display';
import { checkFaultNode, faultFile, resolveFaultNode, type FaultFlag, type NodeFault } from './faults';
import { approvalPatch, DEMO_PLAN, demoNode, demoPlan, expectedSkip, ON_NODES_WITHOUT_DEVICES, pendingApproval, TARGET_RELEASE } from './plan';
import { describeStop, OperatorProcess, PidFile, watchStop, type StopCause } from './processes';
import { PID_FILE } from './runs';
import { judge, nodeSummaries, renderSummary, summaryJson, type DemoSummary } from './summary';
import { buildView } from './view';

export interface DemoOptions {
  nodes: number;
  faults: FaultFlag[];
  keep: boolean;
  json?: string;
  /** Run directory: logs, the fleet, the pid record. */
  dir: string;
  kubeconfig: string;
  crdDir: string;
  approveAfterMs: number;
  timeoutMs: number;
  display: Display;
}

/** The plan has reached an end: nothing more will happen without a human (a Halted plan waits for one once idle). */
function settled(plan: LiveUpdatePlan | undefined): boolean {
  const phase = plan?.status?.phase;
  if (phase === 'Completed' || phase === 'Failed' || phase === 'Aborted') return true;
  return phase === 'Halted' && (plan?.status?.summary?.inFlight ?? 0) === 0;
}

class Stopped extends Error {
  constructor(readonly stopCause: StopCause) {
    super(`stopped: ${describeStop(stopCause)}`);
  }
}

/** Fans the informers' change notifications out to listeners (handlers must not do I/O, listeners may start it). */
class Changes {
  private readonly listeners = new Set<() => void>();

  on(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves once `ready()` holds (checked now and at every change), or when `signal` aborts. */
  until(ready: () => boolean, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!ready() && !signal.aborted) return;
        off();
        signal.removeEventListener('abort', check);
        resolve();
      };
      const off = this.on(check);
      signal.addEventListener('abort', check, { once: true });
      check();
    });
  }
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const { display } = options;
  const stop = watchStop((cause) => display.note(`already stopping (${describeStop(cause)}): waiting for everything to end`));
  /** Stopped in rank order: our watches, the operator (so it reacts to nothing more), the agents, the control plane. */
  const cleanup: { rank: number; what: string; run: () => Promise<void> }[] = [];
  let stopping = false;
  /** Awaits a step that cannot be interrupted, then gives up if a stop came in meanwhile. */
  const step = async <T>(work: Promise<T>): Promise<T> => {
    const value = await work;
    if (stop.signal.aborted) throw new Stopped(stop.signal.reason as StopCause);
    return value;
  };
  try {
    // Everything the flags name is checked before anything starts.
    const names = nodeNames(options.nodes);
    const mix = await defaultTopologyMix();
    const fleetNodes = names.map((name, i) => demoNode(name, topologyOf(mix, i)));
    const faults: NodeFault[] = options.faults.map((f) => resolveFaultNode(f, names));
    for (const fault of faults) checkFaultNode(fault, fleetNodes.find((n) => n.name === fault.node)!);

    const dir = path.resolve(options.dir);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, PID_FILE), String(process.pid));
    const pids = new PidFile(path.join(dir, 'pids'));
    const log: Logger = pino({ name: 'demo', level: process.env.LOG_LEVEL ?? 'info' }, pino.destination({ dest: path.join(dir, 'demo.log'), sync: true }));
    display.note(`Run directory ${dir}: demo.log, operator.log, fleet/<node>/agent.log; pids of everything started in ${pids.file}`);

    display.note('Starting kube-apiserver + etcd with the CRDs…');
    const started = Date.now();
    const plane = await step(
      LocalControlPlane.start({ crdDir: options.crdDir, log: (m) => log.info({ component: 'control-plane' }, m) }).then((p) => {
        cleanup.push({ rank: 3, what: 'kube-apiserver + etcd', run: () => p.stop() });
        pids.add(p.pids, 'control-plane');
        return p;
      }),
    );
    await mkdir(path.dirname(options.kubeconfig), { recursive: true });
    await writeFile(options.kubeconfig, plane.kubeconfig(), { mode: 0o600 });
    display.note(`Control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${plane.admin.server}; kubeconfig ${options.kubeconfig}`);
    const kc = new KubeConfig();
    kc.loadFromString(plane.kubeconfig());

    const operator = new OperatorProcess(
      ['--kubeconfig', path.resolve(options.kubeconfig), '--metrics-bind-address', '127.0.0.1:0', '--health-probe-bind-address', '127.0.0.1:0'],
      path.join(dir, 'operator.log'),
    );
    cleanup.push({ rank: 1, what: 'the operator', run: () => operator.stop() });
    if (operator.pid !== undefined) pids.add([operator.pid], 'operator');
    display.note(`Operator started (pid ${operator.pid}), logging to ${path.join(dir, 'operator.log')}`);
    void operator.exited.then(({ code, signal }) => {
      if (!stopping) display.note(`the operator exited (${signal ?? `status ${code}`}): see ${path.join(dir, 'operator.log')}`);
    });

    const changes = new Changes();
    const handler = { add: () => changes.notify(), update: () => changes.notify(), delete: () => changes.notify() };
    const plans = new Informer({ kc, kind: planKind, fieldSelector: `metadata.name=${DEMO_PLAN}`, resyncMs: 0, log });
    const records = new Informer({ kc, kind: nodeRecordKind, resyncMs: 0, log });
    for (const informer of [plans, records]) {
      informer.addHandler(handler);
      informer.start();
      cleanup.push({ rank: 0, what: `the ${informer.kind.plural} watch`, run: () => informer.stop() });
    }
    const snapshot = () => ({ plan: plans.get(DEMO_PLAN), nodes: fleetNodes, record: (n: string) => records.get(n) });
    const render = () => display.update(buildView(snapshot()));
    changes.on(render);

    const faultsFile = path.join(dir, 'faults.json');
    await writeFile(faultsFile, `${JSON.stringify(faultFile(faults), null, 2)}\n`);
    for (const f of faults) display.note(`Fault injected: ${f.node} ${f.fault.kind} (--fault ${f.raw})`);
    display.note(`Starting ${names.length} simulated nodes (${[...new Set(fleetNodes.map((n) => n.topology))].join(', ')}), one agent process each…`);
    let running: SimFleet | undefined;
    const fleet = await step(
      SimFleet.start({
        kc,
        kubeconfigFile: options.kubeconfig,
        dir: path.join(dir, 'fleet'),
        nodes: names.length,
        faultFile: faultsFile,
        kernels: [TARGET_RELEASE],
        agents: { kind: 'process' },
        log: log.child({ component: 'fleet' }),
        onLife: () => running && pids.add(running.startedPids(), 'agent'),
      }).then((f) => {
        running = f;
        cleanup.push({ rank: 2, what: `${names.length} agents`, run: () => f.stop() });
        pids.add(f.startedPids(), 'agent');
        return f;
      }),
    );
    await step(Promise.race([fleet.settled(), stop.stopped]));
    // Every agent has reported its kernel and devices: the plan sees the whole fleet, and "before" is known.
    await step(changes.until(() => names.every((n) => records.get(n)?.status?.kernelRelease && records.get(n)?.status?.luo), stop.signal));
    const kernelBefore = new Map(names.map((n) => [n, records.get(n)?.status?.kernelRelease ?? '?']));

    const planApi = planResource(kc);
    await step(planApi.create(demoPlan(names, fleet.kernels)));
    display.note(
      `Applied plan ${DEMO_PLAN}: ${names.length} nodes → ${TARGET_RELEASE}, a canary of 1 node paused for approval, then 100%; ` +
        `maxInFlight 2, requirePreservation, onNodesWithoutDevices: ${ON_NODES_WITHOUT_DEVICES}, onFailure: Halt`,
    );

    const approving = new Set<number>();
    const approve = async (stepIndex: number): Promise<void> => {
      await retryOnConflict(async () => {
        const plan = await planApi.get(DEMO_PLAN);
        if (plan.spec.approvals.some((a) => a.step === stepIndex)) return;
        await planApi.patch(DEMO_PLAN, approvalPatch(plan, stepIndex, new Date()), { resourceVersion: plan.metadata.resourceVersion });
      });
      display.note(`Approved step ${stepIndex} as \`kubectl liveupdate approve ${DEMO_PLAN}\` would: appended { step: ${stepIndex}, by: demo } to spec.approvals`);
    };
    changes.on(() => {
      const plan = plans.get(DEMO_PLAN);
      const pending = plan && pendingApproval(plan);
      if (pending === undefined || approving.has(pending)) return;
      approving.add(pending);
      display.note(`The ${pending === 0 ? 'canary' : `step ${pending}`} is done and the plan waits for approval: approving it in ${options.approveAfterMs / 1000} s, as \`kubectl liveupdate approve ${DEMO_PLAN}\` would`);
      const timer = setTimeout(() => void approve(pending).catch((err: unknown) => display.note(`approving step ${pending} failed: ${errorSummary(err)}`)), options.approveAfterMs);
      stop.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    });

    let timedOut = false;
    const timeout = setTimeout(() => {
      timedOut = true;
      changes.notify();
    }, options.timeoutMs);
    try {
      await step(changes.until(() => timedOut || settled(plans.get(DEMO_PLAN)), stop.signal));
    } finally {
      clearTimeout(timeout);
    }
    render();
    display.done();

    const plan = plans.get(DEMO_PLAN);
    const phase = plan?.status?.phase ?? 'Pending';
    const nodes = nodeSummaries(plan, fleetNodes, (n) => records.get(n), kernelBefore);
    const verdict = judge(phase, nodes, faults, TARGET_RELEASE, (name) => expectedSkip(fleetNodes.find((n) => n.name === name)!));
    if (timedOut) verdict.lines.push(`✗ the plan did not reach an end within ${options.timeoutMs / 1000} s (phase ${phase}); see ${path.join(dir, 'operator.log')}`);
    const summary: DemoSummary = { plan: { name: DEMO_PLAN, phase, ...(plan?.status?.progress ? { progress: plan.status.progress } : {}) }, nodes, verdict: { ok: verdict.ok && !timedOut, lines: verdict.lines } };
    display.note(`\n${renderSummary(summary)}`);
    display.note(summary.verdict.ok ? 'The outcome is the one the plan prescribes.' : 'The outcome is NOT the one the plan prescribes.');
    if (options.json) {
      await writeFile(options.json, `${JSON.stringify(summaryJson(summary), null, 2)}\n`);
      display.note(`Summary written to ${options.json}`);
    }
    if (options.keep) {
      const kubectl = plane.binaries.kubectl ?? 'kubectl';
      display.note(
        [
          '',
          'Everything stays up (--keep); Ctrl-C stops it. In another shell:',
          `  export KUBECONFIG=${path.resolve(options.kubeconfig)}`,
          `  ${kubectl} get lup,lun -w`,
          `  ${kubectl} get liveupdate -o wide`,
        ].join('\n'),
      );
      await stop.stopped;
      return stopExitCode(stop.signal.reason as StopCause, summary.verdict.ok ? 0 : 1);
    }
    return summary.verdict.ok ? 0 : 1;
  } catch (err) {
    if (err instanceof Stopped) return stopExitCode(err.stopCause);
    throw err;
  } finally {
    stopping = true;
    display.done();
    if (stop.signal.aborted) display.note(`Stopping (${describeStop(stop.signal.reason as StopCause)})…`);
    for (const { what, run } of cleanup.sort((a, b) => a.rank - b.rank)) {
      try {
        await run();
      } catch (err) {
        display.note(`stopping ${what} failed: ${errorSummary(err)}`);
      }
    }
    const processes = cleanup.filter((c) => c.rank > 0).map((c) => c.what);
    if (processes.length > 0) display.note(`Stopped ${processes.join(', ')}: nothing the demo started is left running.`);
    stop.dispose();
  }
}

/** After --keep the summary's verdict stands; otherwise 128 + the signal's number (129 for a lost parent, as a hangup). */
function stopExitCode(cause: StopCause, kept?: number): number {
  if (kept !== undefined) return kept;
  return 128 + (cause.kind === 'signal' ? constants.signals[cause.signal] : constants.signals.SIGHUP);
}
