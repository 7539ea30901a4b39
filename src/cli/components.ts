/* eslint-disable @typescript-eslint/no-require-imports -- each command's module loads only when it runs */
// Definitions of the commands that run the system: operator, agent, demo, control plane, host inspect, simulator.
import { Command, Option } from 'commander';
import type { AgentOptions } from './agent';
import type { ControlPlaneOptions } from './control-plane';
import type { DemoOptions } from './demo';
import type { HostInspectOptions } from './host-inspect';
import type { OperatorOptions } from './operator';
import type { SimFleetOptions } from './sim-fleet';
import type { SimNodeOptions } from './sim-node';
import type { SimSysfsOptions } from './sim-sysfs';
import { repeatable, runModule } from './usage';

const GROUP = 'Components and simulator:';

function agent(): Command {
  return new Command('agent')
    .summary('run the node agent (prepare → kexec → finish on this node)')
    .description(
      "Runs the node agent: reports this node's PCI devices and LUO state on its LiveUpdateNode and carries out the operator's requests " +
        '(Prepare, Execute, Finish, Cancel). Without --kubeconfig: KUBECONFIG, ~/.kube/config or in-cluster. An idle agent re-reads its ' +
        'devices every --inventory-interval seconds and writes only what changed.',
    )
    .option('--node <name>', "this node's name (required)")
    .option('--host <kind>', 'linux or sim', 'linux')
    .option('--sim-dir <dir>', 'the simulated node (made by `liveupdate sim node` or `liveupdate sim fleet`); needed with --host sim')
    .option('--faults <file>', 'simulator fault file')
    .option('--state-dir <dir>', 'journal directory (default /var/lib/liveupdate-agent; with --host sim: SIM_DIR/agent-state)')
    .option('--image-dir <dir>', 'kernel image directory (default /var/lib/liveupdate/images)')
    .option('--kubeconfig <file>', 'kubeconfig file')
    .option('--health-probe-bind-address <addr>', 'health probe address ("0" disables)', '0')
    .option('--inventory-interval <seconds>', 'seconds between inventories of an idle agent', '30')
    .addHelpText('after', '\nExit status: 0 stopped or (simulated) kexec done — start it again; 3 the simulated node never came back; 1 error; 2 usage.')
    .action((options: AgentOptions) => runModule(() => require('./agent') as typeof import('./agent'), options));
}

function operator(): Command {
  return new Command('operator')
    .summary('run the operator (reconciles LiveUpdatePlans)')
    .description(
      'Reconciles LiveUpdatePlans: selects and orders nodes, claims them, cordons, drives each node\'s agent through Prepare → Execute → ' +
        'Finish, and cancels or halts on failure. Without --kubeconfig: KUBECONFIG, ~/.kube/config or in-cluster. SIGTERM drains and exits 0.',
    )
    .option('--kubeconfig <file>', 'kubeconfig file')
    .option('--namespace <ns>', "namespace of the leader-election Lease (default: the pod's namespace or \"default\")", process.env.POD_NAMESPACE ?? 'default')
    .option('--leader-elect', 'take part in leader election (two replicas, one leads)')
    .option('--leader-election-id <name>', 'name of the Lease', 'liveupdate-operator')
    .option('--metrics-bind-address <addr>', 'metrics address (controller-runtime form: ":8080", "127.0.0.1:0"; "0" disables)', ':8080')
    .option('--health-probe-bind-address <addr>', 'health probe address ("0" disables)', ':8081')
    .option('--workers <n>', 'plans reconciled at once', '2')
    .option('--plan-selector <labels>', "reconcile only the plans whose labels match (e.g. shard=a): operators can share a cluster without touching each other's plans")
    .action((options: OperatorOptions) => runModule(() => require('./operator') as typeof import('./operator'), options));
}

function demo(): Command {
  return new Command('demo')
    .summary('the whole system on a simulated fleet: control plane, operator, agents and a plan with a canary')
    .description(
      'Starts kube-apiserver + etcd with the CRDs, the operator (its own process), a simulated fleet of N nodes (gpu8, nvme-sriov, ' +
        'mixed-switch and hosts without passthrough devices, round robin; one agent process per node), and applies plan `demo-rollout`: ' +
        'every node to 6.19.4-lu2, a canary of one node that pauses for approval, then 100%, maxInFlight 2, DMA preservation required, ' +
        'nodes without passthrough devices live-updated too, halt on the first failure. The demo approves the canary itself after ' +
        '--approve-after seconds, as `kubectl liveupdate approve` would. It shows the plan and a node table live, then a summary per node, ' +
        'and exits 0 when the outcome is the one the plan prescribes.',
    )
    .option('--nodes <n>', 'fleet size', '8')
    .option(
      '--fault <node:kind[:arg]>',
      'inject a simulator fault (repeatable); NODE is a position in the fleet (2 = sim-node-02) or a node name. The demo then expects the cancel or halt the plan\'s policy prescribes',
      repeatable,
    )
    .option('--keep', 'stay up after the summary (kubectl get lup,lun -w works against it) until Ctrl-C')
    .option('--json <file>', 'write the final summary as JSON')
    .option('--dir <dir>', 'run directory: logs, the simulated fleet, the pids started (default .cache/demo/<time>)')
    .option('--kubeconfig <file>', 'where to write the kubeconfig (default .cache/kubeconfig)')
    .option('--approve-after <seconds>', 'wait this long in a pause before approving it', '3')
    .option('--timeout <seconds>', 'give up if the plan has not ended after this long', '300')
    .addOption(new Option('--crds <dir>', 'CRD directory').hideHelp())
    .addHelpText('after', () => {
      const { FAULT_ARGS } = require('../demo/faults') as typeof import('../demo/faults');
      const kinds = Object.entries(FAULT_ARGS).map(([kind, arg]) => `  ${kind.padEnd(26)} ${arg}`);
      return `\nFault kinds and their ARG:\n${kinds.join('\n')}\n\nCtrl-C, SIGTERM, SIGHUP, or the end of its parent process stop everything it started.`;
    })
    .action((options: DemoOptions) => runModule(() => require('./demo') as typeof import('./demo'), options));
}

function controlPlane(): Command {
  return new Command('control-plane')
    .summary('start a local kube-apiserver + etcd and print how to reach it')
    .description('Starts a local kube-apiserver + etcd with the CRDs installed and writes its kubeconfig; Ctrl-C stops both.')
    .option('--kubeconfig <file>', 'where to write the kubeconfig (default .cache/kubeconfig)')
    .option('--crds <dir>', 'CRD directory to install (default crds/)')
    .option('--no-crds', 'install no CRDs, for a `helm install` of the chart, which brings its own')
    .action((options: ControlPlaneOptions) => runModule(() => require('./control-plane') as typeof import('./control-plane'), options));
}

function host(): Command {
  const inspect = new Command('inspect')
    .summary('list PCI devices and the bus-master preservation plan of this host')
    .description(
      'Lists PCI devices and which of them a live update would preserve (busmaster / busmaster-bridge). By default the endpoints bound ' +
        'to vfio-pci with bus master set are preserved; --match selects by id instead.',
    )
    .option('--sysfs-root <dir>', 'sysfs mount', '/sys')
    .option('--proc-root <dir>', 'procfs mount (open VFIO fds)', '/proc')
    .option('--match <vendor:device>', 'preserve the devices with this id (repeatable)', repeatable)
    .option('--json', 'print the JSON report')
    .addHelpText('after', '\nExit status: 0 no errors, 1 errors (listed), 2 bad usage or unreadable root.')
    .action((options: HostInspectOptions) => runModule(() => require('./host-inspect') as typeof import('./host-inspect'), options));
  return new Command('host').summary('this host: PCI devices and what a live update would preserve').addCommand(inspect);
}

/** Help text that names the simulator's defaults, read only when help is shown. */
const simDefaults = () => require('../sim/prepare') as typeof import('../sim/prepare');

function sim(): Command {
  const sysfs = new Command('sysfs')
    .summary('write a fake sysfs tree (kernel layout) from a topology file')
    .option('--topology <file>', 'topology file (required)')
    .option('--out <dir>', 'where to write the tree (required)')
    .action((options: SimSysfsOptions) => runModule(() => require('./sim-sysfs') as typeof import('./sim-sysfs'), options));

  const fleet = new Command('fleet')
    .summary('simulated fleet: Node objects kept Ready and one agent per simulated node')
    .description(
      'Creates nodes PREFIX-01…PREFIX-N under DIR (DIR/<node> is each agent\'s --sim-dir, DIR/<node>/agent-state its --state-dir, ' +
        'DIR/<node>/agent.log its stderr), their Node objects, and runs one `liveupdate agent --host sim` per node, restarted after each ' +
        'simulated kexec. Prints "liveupdate-sim-fleet ready <N>" once every node has been up or down once; stops on SIGINT, SIGTERM or SIGHUP.',
    )
    .option('--dir <dir>', 'fleet directory (required)')
    .option('--nodes <n>', 'number of nodes (required)')
    .option('--kubeconfig <file>', 'kubeconfig file (default $KUBECONFIG)')
    .option('--prefix <name>', 'node name prefix (default sim-node)')
    .option('--topologies <files>', 'comma-separated topology files, round robin (default: gpu8, nvme-sriov, mixed-switch and one without passthrough devices)')
    .option('--faults <file>', 'simulator fault file')
    .option('--reboot-seconds <s>', 'seconds a simulated kexec takes before the agent starts again (default 2)')
    .option('--api <api>', 'LUO model of new nodes (default mainline)')
    .option('--kernels <releases>', 'comma-separated releases: installs DIR/images/vmlinuz-<R> each and writes DIR/kernels.json (release -> image path and sha256)')
    .option('--release <release>', 'kernel release new nodes run')
    .option('--in-process', 'run the agents in this process instead of one process each (large fleets)')
    .option('--agent-command <json>', 'replace the agent command: a JSON array, e.g. \'["node","stand-in.js"]\', to which the agent arguments are appended')
    .addHelpText('after', () => `\n--api is one of ${simDefaults().SIM_APIS.join(', ')}; --release defaults to ${simDefaults().DEFAULT_RELEASE}.`)
    .action((options: SimFleetOptions) => runModule(() => require('./sim-fleet') as typeof import('./sim-fleet'), options));

  const node = new Command('node')
    .summary('prepare one simulated node dir (sysfs, proc, images) without starting anything')
    .description(
      "Creates the simulated node in DIR (the agent's --sim-dir; its journal goes to DIR/agent-state). An existing node is left as it is.",
    )
    .option('--topology <file>', 'topology file (required)')
    .option('--dir <dir>', 'node directory (required)')
    .option('--release <release>', 'kernel release the node runs')
    .option('--api <api>', 'LUO model (default mainline)')
    .option('--kernels <releases>', 'comma-separated releases: installs DIR/images/vmlinuz-<R> each and writes DIR/kernels.json (release -> image path and sha256)')
    .addHelpText('after', () => `\n--api is one of ${simDefaults().SIM_APIS.join(', ')}; --release defaults to ${simDefaults().DEFAULT_RELEASE}.`)
    .action((options: SimNodeOptions) => runModule(() => require('./sim-node') as typeof import('./sim-node'), options));

  return new Command('sim').summary('the simulator: fake sysfs trees, simulated nodes and fleets').addCommand(sysfs).addCommand(fleet).addCommand(node);
}

export function addComponentCommands(program: Command): void {
  program.commandsGroup(GROUP);
  for (const command of [operator(), agent(), demo(), controlPlane(), host(), sim()]) program.addCommand(command);
}
