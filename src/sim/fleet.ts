// The simulated fleet: N simulated hosts on disk, their Node objects, and one liveupdate agent per node, supervised
// as a machine and its kubelet would: the fleet plays what a cluster has and the test control plane lacks.
//
// Kernel images. The simulated kexec (SimKexec.load -> verifiedImage) loads `image.image` as a path and refuses one
// whose real path lies outside the host's image dir. A plan carries ONE path for all nodes, so images in each node's
// own dir would load on one node only. The fleet keeps them once, in <dir>/images: every node's images/ is a symlink
// to it (realpath follows it, so the SimHost's default image dir accepts the shared path) and agents get
// --image-dir <dir>/images. kernels.json names the shared path; a resolution by file name inside the node's image dir
// finds the same file.
//
// Node objects. Labels: kubernetes.io/hostname, topology.kubernetes.io/zone (zone-a/b/c round robin),
// node-role.example.com/hypervisor=true (what manifests/examples select), and the device-discovery labels of the
// node's topology (layout.ts). Ready is written on the status subresource, only when it changes — no heartbeat:
// False/AgentStarting until the agent's first ready line, True while it runs, False/KernelRebooting from its exit
// after a kexec until the restarted agent's ready line, Unknown/NodeStatusUnknown once the node is down for good. A
// crashed agent leaves Ready as it was (ready.ts). nodeInfo.bootID / kernelVersion follow each boot.
//
// Agents. Process mode (default): one `liveupdate agent --host sim` child per node, its stderr appended to
// <dir>/<node>/agent.log (a file, not the fleet's stderr: 5 000 interleaved streams are unreadable), stdout read for
// the ready line. In-process mode runs the agents through an injected runner on this process's event loop: no
// process per node (for large benchmark fleets), but one event loop for all (an agent's slow step delays the others'
// timers) and an injected agent crash cannot SIGKILL anything: the SimHost is opened with an onCrash callback, the
// host call throws SimAgentCrash, and that run ends as crashed (its in-memory state goes with it, like a process).
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { READY_LINE_PREFIX, type AgentExit } from '../agent/contract';
import { SimAgentCrash, SimHost, SimNodeDownError } from '../host/sim/host';
import type { SimLuoApi } from '../host/sim/kernel';
import { Backoff, sleep } from '../kube/backoff';
import { errorSummary, silentLogger, type Logger } from '../kube/log';
import { forEachLimited } from '../util/limited';
import { installKernels, type KernelsIndex } from './kernels';
import { nodeLabels, nodeNames, nodePaths, sharedImageDir, topologyOf, type NamedTopology, type NodePaths } from './layout';
import { registerNode, writeNodeStatus, type NodeBoot } from './node-object';
import { defaultTopologyMix, prepareNode } from './prepare';
import { nextLife, readyState, readyTransition, restartPolicy, type LifeEvent, type NodeLife, type ReadyCondition, type RunExit } from './ready';

export interface AgentRunContext {
  node: string;
  paths: NodePaths;
  /** Opened for this run (one open = one agent process), with an onCrash that throws instead of killing. */
  host: SimHost;
  /** Aborted when the fleet stops. */
  signal: AbortSignal;
  onReady: (bootId: string) => void;
}

/** One in-process agent run, e.g. `(r) => runAgent({ kc, node: r.node, host: r.host, stateDir: r.paths.stateDir, … })`. */
export type InProcessAgent = (run: AgentRunContext) => Promise<AgentExit>;

export type AgentMode =
  /** `command` is the argv prefix the agent arguments (--node … --host sim …) are appended to; default defaultAgentCommand(). */
  | { kind: 'process'; command?: string[] }
  | { kind: 'in-process'; run: InProcessAgent };

export interface SimFleetOptions {
  kc: KubeConfig;
  /** Given to process agents as --kubeconfig. */
  kubeconfigFile?: string;
  dir: string;
  nodes: number;
  /** Node names are <prefix>-01…; default sim-node. */
  prefix?: string;
  /** Round robin; default the shipped topologies plus one without passthrough devices. */
  topologies?: NamedTopology[];
  faultFile?: string;
  /** Simulated boot time after a kexec. Default 2. */
  rebootSeconds?: number;
  /** LUO model and running release of nodes created now (existing ones keep theirs). */
  api?: SimLuoApi;
  release?: string;
  /** Releases whose images to install; writes <dir>/kernels.json. */
  kernels?: string[];
  /** Nodes carry all a kubelet reports (50 images, capacity, addresses…), as the fleet-scale benches need; default only what the operator reads. */
  fullKubeletStatus?: boolean;
  agents?: AgentMode;
  /** SIGTERM to SIGKILL at stop. Default 5000. */
  stopGraceMs?: number;
  /** Restart delays of failed agents. Default 1 s doubling to 30 s. */
  restartBackoff?: { initialMs: number; maxMs: number };
  log?: Logger;
  /** Every change of a node's life (after it is applied). */
  onLife?: (node: string, life: NodeLife) => void;
}

/** How the fleet starts `liveupdate agent`: from source under ts-node, or the built CLI. */
export function defaultAgentCommand(): string[] {
  if (__filename.endsWith('.ts')) return [process.execPath, '-r', require.resolve('ts-node/register'), path.join(__dirname, '..', 'cli', 'main.ts'), 'agent'];
  return [process.execPath, path.join(__dirname, '..', 'cli', 'main.js'), 'agent'];
}

/** The run's end as the agent's exit status says it (contract.ts); anything after the fleet asked it to stop is `stopped`. */
export function processExit(code: number | null, signal: NodeJS.Signals | null, stopping: boolean, lastLog: string): RunExit {
  if (stopping) return { kind: 'stopped' };
  if (signal) return { kind: 'crashed', phase: `killed by ${signal}` };
  if (code === 0) return { kind: 'rebooted' };
  if (code === 3) return { kind: 'node-down', reason: lastLog || 'agent exited 3' };
  return { kind: 'failed', detail: `exit status ${code}${lastLog ? `: ${lastLog}` : ''}` };
}

interface Run {
  ended: Promise<RunExit>;
  pid: number | undefined;
  /** Asks the run to end (SIGTERM, SIGKILL after the grace period; in-process: the fleet's abort signal). */
  terminate(graceMs: number): void;
  /** Synchronous last resort at process exit. */
  kill(): void;
}

interface NodeState {
  name: string;
  index: number;
  paths: NodePaths;
  life: NodeLife;
  /** The last Ready condition queued for writing. */
  condition: ReadyCondition | undefined;
  bootId: string | undefined;
  failures: number;
  backoff: Backoff;
  run: Run | undefined;
  writes: Promise<void>;
  settled: boolean;
}

export class SimFleet {
  private readonly states: NodeState[];
  private readonly abort = new AbortController();
  private readonly started = new Set<number>();
  private loops: Promise<void>[] = [];
  private stopping: Promise<void> | undefined;
  private unsettled: number;
  private readonly whenSettled: Promise<void>;
  private markSettled!: () => void;
  private readonly killOnExit = (): void => this.states.forEach((s) => s.run?.kill());

  private constructor(
    private readonly options: SimFleetOptions,
    states: NodeState[],
    /** Release -> image and sha256 (empty without --kernels). */
    readonly kernels: KernelsIndex,
  ) {
    this.states = states;
    this.unsettled = states.length;
    this.whenSettled = new Promise((resolve) => (this.markSettled = resolve));
  }

  /** Prepares the node dirs and kernels, registers the Node objects, then starts one agent per node. */
  static async start(options: SimFleetOptions): Promise<SimFleet> {
    const names = nodeNames(options.nodes, options.prefix);
    const dir = path.resolve(options.dir);
    const mix = options.topologies ?? (await defaultTopologyMix());
    if (mix.length === 0) throw new Error('the topology mix is empty');
    await mkdir(dir, { recursive: true });
    const imageDir = sharedImageDir(dir);
    const kernels = options.kernels?.length ? await installKernels(imageDir, dir, options.kernels) : {};
    const now = new Date();
    const states = names.map(
      (name, index): NodeState => ({
        name,
        index,
        paths: nodePaths(dir, name),
        life: { phase: 'starting' },
        condition: readyTransition(undefined, readyState({ phase: 'starting' }), now),
        bootId: undefined,
        failures: 0,
        backoff: new Backoff({ initialMs: 1000, maxMs: 30_000, ...options.restartBackoff }),
        run: undefined,
        writes: Promise.resolve(),
        settled: false,
      }),
    );
    await forEachLimited(states, 8, async (s) => {
      const { topology } = topologyOf(mix, s.index);
      await prepareNode({ dir: s.paths.simDir, node: s.name, topology, api: options.api, release: options.release, sharedImageDir: imageDir });
    });
    await forEachLimited(states, 16, async (s) => {
      const boot = await readBoot(s.paths);
      s.bootId = boot.bootID;
      await registerNode(options.kc, s.name, nodeLabels(s.name, s.index, topologyOf(mix, s.index)), s.condition!, boot, options.fullKubeletStatus);
    });
    const fleet = new SimFleet({ ...options, dir }, states, kernels);
    process.on('exit', fleet.killOnExit);
    fleet.loops = states.map((s) => fleet.supervise(s));
    return fleet;
  }

  get nodes(): string[] {
    return this.states.map((s) => s.name);
  }

  life(node: string): NodeLife | undefined {
    return this.states.find((s) => s.name === node)?.life;
  }

  /** The running agent process of a node (process mode). */
  pid(node: string): number | undefined {
    return this.states.find((s) => s.name === node)?.run?.pid;
  }

  /** Every agent process this fleet has started, running or not. */
  startedPids(): number[] {
    return [...this.started];
  }

  /** Resolves once every node has been up (its agent's ready line) or down at least once. */
  settled(): Promise<void> {
    return this.whenSettled;
  }

  /** Stops every agent (SIGTERM, SIGKILL after the grace period) and waits for them and the pending Node writes. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.abort.abort();
      for (const s of this.states) s.run?.terminate(this.options.stopGraceMs ?? 5000);
      await Promise.all(this.loops);
      await Promise.all(this.states.map((s) => s.writes));
      process.removeListener('exit', this.killOnExit);
    })();
    return this.stopping;
  }

  private async supervise(s: NodeState): Promise<void> {
    while (!this.abort.signal.aborted) {
      const run = this.startRun(s);
      s.run = run;
      const exit = await run.ended;
      s.run = undefined;
      if (exit.kind === 'crashed' || exit.kind === 'failed') s.failures++;
      this.log.info({ node: s.name, pid: run.pid, exit }, 'agent ended');
      this.apply(s, { type: 'exit', exit });
      if (this.abort.signal.aborted) return;
      const restart = restartPolicy(exit, s.failures);
      if (restart === 'never') return;
      await sleep(restart === 'now' ? 0 : restart === 'after-boot' ? (this.options.rebootSeconds ?? 2) * 1000 : s.backoff.next(), this.abort.signal);
    }
  }

  private ready(s: NodeState, bootId: string): void {
    s.failures = 0;
    s.backoff.reset();
    this.apply(s, { type: 'ready', bootId });
  }

  /** Moves the node's life on and queues the Node status write the change implies, in order, if any. */
  private apply(s: NodeState, event: LifeEvent): void {
    const before = s.life;
    s.life = nextLife(s.life, event);
    const condition = readyTransition(s.condition, readyState(s.life), new Date());
    const newBoot = event.type === 'ready' && event.bootId !== s.bootId ? event.bootId : undefined;
    if (newBoot) s.bootId = newBoot;
    if (condition) s.condition = condition;
    if (condition || newBoot) {
      const ready = s.condition!;
      s.writes = s.writes.then(async () => {
        try {
          const boot = newBoot ? { bootID: newBoot, kernelVersion: (await readBoot(s.paths)).kernelVersion } : undefined;
          await writeNodeStatus(this.options.kc, s.name, ready, boot);
        } catch (err) {
          this.log.error({ node: s.name, err: errorSummary(err) }, 'cannot write the Node status');
        }
      });
    }
    if (JSON.stringify(s.life) !== JSON.stringify(before)) this.options.onLife?.(s.name, s.life);
    if (!s.settled && (s.life.phase === 'up' || s.life.phase === 'down')) {
      s.settled = true;
      if (--this.unsettled === 0) this.markSettled();
    }
  }

  private startRun(s: NodeState): Run {
    const mode = this.options.agents ?? { kind: 'process' };
    return mode.kind === 'process' ? this.startProcess(s, mode.command ?? defaultAgentCommand()) : this.startInProcess(s, mode.run);
  }

  private startProcess(s: NodeState, command: string[]): Run {
    const { simDir, stateDir, imageDir, log } = s.paths;
    const { kubeconfigFile, faultFile } = this.options;
    const args = ['--node', s.name, '--host', 'sim', '--sim-dir', simDir, '--state-dir', stateDir, '--image-dir', imageDir];
    if (kubeconfigFile) args.push('--kubeconfig', path.resolve(kubeconfigFile));
    if (faultFile) args.push('--faults', path.resolve(faultFile));
    const logFd = openSync(log, 'a');
    const child = (() => {
      try {
        // detached: false keeps the children in the fleet's process group: a Ctrl-C in the terminal reaches them too.
        return spawn(command[0]!, [...command.slice(1), ...args], {
          stdio: ['ignore', 'pipe', logFd],
          env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
          detached: false,
        });
      } finally {
        closeSync(logFd); // the child has its own copy
      }
    })();
    if (child.pid !== undefined) this.started.add(child.pid);
    this.log.info({ node: s.name, pid: child.pid }, 'agent started');
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const [node, bootId] = line.startsWith(`${READY_LINE_PREFIX} `) ? line.slice(READY_LINE_PREFIX.length + 1).split(' ') : [];
      if (node === s.name && bootId) this.ready(s, bootId);
      else process.stderr.write(`[${s.name}] ${line}\n`);
    });
    const ended = new Promise<RunExit>((resolve) => {
      child.on('error', (err) => resolve({ kind: 'failed', detail: `cannot start ${command[0]}: ${err.message}` }));
      child.on('close', (code, signal) => {
        void lastLine(log).then((last) => resolve(processExit(code, signal, this.abort.signal.aborted, last)));
      });
    });
    let killTimer: NodeJS.Timeout | undefined;
    void ended.then(() => clearTimeout(killTimer));
    const alive = () => child.exitCode === null && child.signalCode === null;
    return {
      ended,
      pid: child.pid,
      terminate: (graceMs) => {
        if (!alive()) return;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => alive() && child.kill('SIGKILL'), graceMs);
      },
      kill: () => void (alive() && child.kill('SIGKILL')),
    };
  }

  private startInProcess(s: NodeState, runAgent: InProcessAgent): Run {
    const { signal } = this.abort;
    const ended = (async (): Promise<RunExit> => {
      let host: SimHost;
      try {
        host = await SimHost.open({ dir: s.paths.simDir, node: s.name, imageDir: s.paths.imageDir, faultFile: this.options.faultFile, onCrash: () => undefined });
      } catch (err) {
        return err instanceof SimNodeDownError ? { kind: 'node-down', reason: err.reason } : { kind: 'failed', detail: errorSummary(err) };
      }
      try {
        return await runAgent({ node: s.name, paths: s.paths, host, signal, onReady: (bootId) => this.ready(s, bootId) });
      } catch (err) {
        if (err instanceof SimAgentCrash) return { kind: 'crashed', phase: err.phase };
        return signal.aborted ? { kind: 'stopped' } : { kind: 'failed', detail: errorSummary(err) };
      }
    })();
    return { ended, pid: undefined, terminate: () => undefined, kill: () => undefined };
  }

  private get log(): Logger {
    return this.options.log ?? silentLogger;
  }
}

/** The boot id and release the simulated host booted with (its proc files), as a kubelet reads them. */
async function readBoot(paths: NodePaths): Promise<NodeBoot> {
  const proc = (file: string) => readFile(path.join(paths.simDir, 'proc', 'sys', 'kernel', file), 'utf8').then((t) => t.trim());
  return { bootID: await proc('random/boot_id'), kernelVersion: await proc('osrelease') };
}

/** The last non-empty line of a log file (its last 4 KiB), for exit messages; empty if unreadable. */
async function lastLine(file: string): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 4096);
      const { buffer } = await handle.read(Buffer.alloc(length), 0, length, size - length);
      return (buffer.toString('utf8').trim().split('\n').pop() ?? '').slice(0, 500);
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}
