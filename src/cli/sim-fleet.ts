// liveupdate sim fleet: N simulated nodes, their Node objects kept Ready as a kubelet would, one agent per node,
// until SIGINT / SIGTERM / SIGHUP; then every agent is stopped and nothing it started stays behind.
import { KubeConfig } from '@kubernetes/client-node';
import { runAgent } from '../agent/agent';
import { createLogger, type Logger } from '../kube/log';
import { SimFleet, type AgentMode, type InProcessAgent } from '../sim/fleet';
import { apiFlag, splitList, topologyFlag } from './sim-node';
import { UsageError } from './usage';

function inProcessAgent(kc: KubeConfig, log: Logger): InProcessAgent {
  return (r) => runAgent({ kc, node: r.node, host: r.host, stateDir: r.paths.stateDir, log: log.child({ node: r.node }), signal: r.signal, onReady: r.onReady });
}

function positiveInteger(flag: string, value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`${flag} must be a whole number >= 1, got ${JSON.stringify(value ?? '')}`);
  return Number(value);
}

function seconds(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`${flag} must be a number of seconds >= 0, got ${JSON.stringify(value)}`);
  return n;
}

function agentCommand(value: string): string[] {
  let command: unknown;
  try {
    command = JSON.parse(value);
  } catch {
    command = undefined;
  }
  if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string'))
    throw new UsageError(`--agent-command must be a non-empty JSON array of strings, got ${value}`);
  return command;
}

export interface SimFleetOptions {
  kubeconfig?: string;
  dir?: string;
  nodes?: string;
  prefix?: string;
  topologies?: string;
  faults?: string;
  rebootSeconds?: string;
  api?: string;
  kernels?: string;
  release?: string;
  inProcess?: boolean;
  agentCommand?: string;
}

export async function run(values: SimFleetOptions): Promise<number> {
  if (!values.dir) throw new UsageError('sim fleet: --dir DIR is required');
  const nodes = positiveInteger('--nodes', values.nodes);
  const rebootSeconds = seconds('--reboot-seconds', values.rebootSeconds);
  const api = apiFlag(values.api);
  const kubeconfigFile = values.kubeconfig ?? process.env.KUBECONFIG;
  if (!kubeconfigFile) throw new UsageError('--kubeconfig is required (or set KUBECONFIG)');
  if (values.prefix !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(values.prefix)) throw new UsageError(`--prefix ${JSON.stringify(values.prefix)} is not a DNS label`);
  if (values.inProcess && values.agentCommand) throw new UsageError('--in-process and --agent-command exclude each other');
  const topologies = values.topologies === undefined ? undefined : await Promise.all(splitList(values.topologies).map((f) => topologyFlag('--topologies', f)));
  if (topologies?.length === 0) throw new UsageError('--topologies names no file');
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(kubeconfigFile);
  } catch (err) {
    throw new UsageError(`--kubeconfig ${kubeconfigFile}: ${(err as Error).message}`);
  }
  const log = createLogger('sim-fleet');
  const agents: AgentMode = values.inProcess
    ? { kind: 'in-process', run: inProcessAgent(kc, log) }
    : { kind: 'process', ...(values.agentCommand ? { command: agentCommand(values.agentCommand) } : {}) };

  // Handlers first: a signal while the fleet is being prepared stops it as soon as it has started.
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => resolve(signal));
  });
  const fleet = await SimFleet.start({
    kc,
    kubeconfigFile,
    dir: values.dir,
    nodes,
    prefix: values.prefix,
    topologies,
    faultFile: values.faults,
    rebootSeconds,
    api,
    release: values.release,
    kernels: splitList(values.kernels),
    agents,
    log,
  });
  void fleet.settled().then(() => process.stdout.write(`liveupdate-sim-fleet ready ${nodes}\n`));
  const signal = await signalled;
  log.info({ signal }, 'stopping the fleet');
  await fleet.stop();
  return 0;
}
