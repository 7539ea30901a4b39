// `liveupdate agent`: the node agent (DaemonSet pod on a real host, a child of `liveupdate sim fleet` on a simulated one).
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { runAgent } from '../agent/agent';
import { AGENT_EXIT_CODE, READY_LINE_PREFIX, type AgentExit } from '../agent/contract';
import { LinuxHost } from '../host/linux/host';
import { SimHost, SimNodeDownError } from '../host/sim/host';
import type { Host } from '../host/types';
import { createLogger } from '../kube/log';
import { UsageError } from './usage';

export interface AgentOptions {
  node?: string;
  host: string;
  simDir?: string;
  faults?: string;
  stateDir?: string;
  imageDir?: string;
  kubeconfig?: string;
  healthProbeBindAddress: string;
  inventoryInterval: string;
}

export async function run(values: AgentOptions): Promise<number> {
  if (!values.node) throw new UsageError('agent: --node NAME is required');
  if (values.host !== 'linux' && values.host !== 'sim') throw new UsageError(`agent: --host must be linux or sim, not "${values.host}"`);
  if (values.host === 'sim' && !values.simDir) throw new UsageError('agent: --host sim needs --sim-dir DIR (made by `liveupdate sim node` or `liveupdate sim fleet`)');
  const inventorySeconds = Number(values.inventoryInterval);
  if (!(inventorySeconds > 0)) throw new UsageError(`agent: --inventory-interval must be a number of seconds > 0, not "${values.inventoryInterval}"`);
  const node = values.node;
  const log = createLogger('liveupdate-agent');
  const kc = new KubeConfig();
  if (values.kubeconfig) kc.loadFromFile(values.kubeconfig);
  else kc.loadFromDefault();

  let host: Host;
  if (values.host === 'sim') {
    const simDir = values.simDir!;
    try {
      host = await SimHost.open({ dir: simDir, node, faultFile: values.faults, imageDir: values.imageDir });
    } catch (err) {
      if (!(err instanceof SimNodeDownError)) throw err;
      log.error({ simDir }, `${node}: ${err.message}; not restarting`);
      process.stderr.write(`liveupdate agent: ${node}: ${err.message}\n`);
      return AGENT_EXIT_CODE.nodeDown;
    }
  } else {
    const stateDir = values.stateDir ?? '/var/lib/liveupdate-agent';
    host = new LinuxHost({ imageDir: values.imageDir ?? '/var/lib/liveupdate/images', stateDir: path.join(stateDir, 'luo') });
  }
  const stateDir = values.stateDir ?? (values.host === 'sim' ? path.join(values.simDir!, 'agent-state') : '/var/lib/liveupdate-agent');

  const stop = new AbortController();
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  const onSignal = (): void => stop.abort();
  for (const s of signals) process.on(s, onSignal);
  let exit: AgentExit;
  try {
    exit = await runAgent({
      kc,
      node,
      host,
      stateDir,
      log,
      signal: stop.signal,
      healthProbeBindAddress: values.healthProbeBindAddress,
      inventoryIntervalMs: inventorySeconds * 1000,
      onReady: (bootId) => process.stdout.write(`${READY_LINE_PREFIX} ${node} ${bootId}\n`),
    });
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
  switch (exit.kind) {
    case 'stopped':
      return AGENT_EXIT_CODE.ok;
    case 'rebooted':
      log.info('simulated kexec: this agent process ends with its kernel; the supervisor starts it again after the reboot');
      return AGENT_EXIT_CODE.ok;
    case 'node-down':
      process.stderr.write(`liveupdate agent: ${node}: ${exit.reason}\n`);
      return AGENT_EXIT_CODE.nodeDown;
    case 'crashed':
      return AGENT_EXIT_CODE.error;
  }
}
