// `liveupdate agent`: the node agent (DaemonSet pod on a real host, a child of `liveupdate sim fleet` on a simulated one).
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { runAgent } from '../agent/agent';
import { AGENT_EXIT_CODE, READY_LINE_PREFIX, type AgentExit } from '../agent/contract';
import { LinuxHost } from '../host/linux/host';
import { SimHost, SimNodeDownError } from '../host/sim/host';
import type { Host } from '../host/types';
import { createLogger } from '../kube/log';
import { parseOptions, UsageError } from './usage';

const HELP = `usage: liveupdate agent --node NAME [--host linux|sim] [--sim-dir DIR] [--faults FILE] [--state-dir DIR]
                        [--image-dir DIR] [--kubeconfig FILE] [--health-probe-bind-address ADDR]
                        [--inventory-interval SECONDS]

Runs the node agent: reports this node's PCI devices and LUO state on its LiveUpdateNode and carries out the
operator's requests (Prepare, Execute, Finish, Cancel). Without --kubeconfig: KUBECONFIG, ~/.kube/config or in-cluster.
An idle agent re-reads its devices every --inventory-interval seconds (default 30) and writes only what changed.
Exit status: 0 stopped or (simulated) kexec done — start it again; 3 the simulated node never came back; 1 error; 2 usage.
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseOptions({
    args: argv,
    options: {
      node: { type: 'string' },
      host: { type: 'string', default: 'linux' },
      'sim-dir': { type: 'string' },
      faults: { type: 'string' },
      'state-dir': { type: 'string' },
      'image-dir': { type: 'string' },
      kubeconfig: { type: 'string' },
      'health-probe-bind-address': { type: 'string', default: '0' },
      'inventory-interval': { type: 'string', default: '30' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.node) throw new UsageError('agent: --node NAME is required');
  if (values.host !== 'linux' && values.host !== 'sim') throw new UsageError(`agent: --host must be linux or sim, not "${values.host}"`);
  if (values.host === 'sim' && !values['sim-dir']) throw new UsageError('agent: --host sim needs --sim-dir DIR (made by `liveupdate sim node` or `liveupdate sim fleet`)');
  const inventorySeconds = Number(values['inventory-interval']);
  if (!(inventorySeconds > 0)) throw new UsageError(`agent: --inventory-interval must be a number of seconds > 0, not "${values['inventory-interval']}"`);
  const node = values.node;
  const log = createLogger('liveupdate-agent');
  const kc = new KubeConfig();
  if (values.kubeconfig) kc.loadFromFile(values.kubeconfig);
  else kc.loadFromDefault();

  let host: Host;
  if (values.host === 'sim') {
    const simDir = values['sim-dir']!;
    try {
      host = await SimHost.open({ dir: simDir, node, faultFile: values.faults, imageDir: values['image-dir'] });
    } catch (err) {
      if (!(err instanceof SimNodeDownError)) throw err;
      log.error({ simDir }, `${node}: ${err.message}; not restarting`);
      process.stderr.write(`liveupdate agent: ${node}: ${err.message}\n`);
      return AGENT_EXIT_CODE.nodeDown;
    }
  } else {
    const stateDir = values['state-dir'] ?? '/var/lib/liveupdate-agent';
    host = new LinuxHost({ imageDir: values['image-dir'] ?? '/var/lib/liveupdate/images', stateDir: path.join(stateDir, 'luo') });
  }
  const stateDir = values['state-dir'] ?? (values.host === 'sim' ? path.join(values['sim-dir']!, 'agent-state') : '/var/lib/liveupdate-agent');

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
      healthProbeBindAddress: values['health-probe-bind-address'],
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
