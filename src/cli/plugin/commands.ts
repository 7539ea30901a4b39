/* eslint-disable @typescript-eslint/no-require-imports -- each command's module loads only when it runs */
// Definitions of the rollout commands: `kubectl liveupdate <verb>` and `liveupdate <verb>` alike. They write spec
// fields the operator consumes (strategy.paused, approvals, abort, strategy.mode), never status: one writer per field.
import { Command, Option } from 'commander';
import { runModule } from '../usage';
import type { NodesOptions } from './nodes';
import type { PreviewOptions } from './preview';
import type { ReleaseOptions } from './release';
import type { SpecVerbOptions } from './spec-verbs';
import type { StatusOptions } from './status';

const GROUP = 'Rollout commands (also as kubectl liveupdate <command>):';

/** kubectl's connection flags; without them KUBECONFIG or ~/.kube/config and its current context, like kubectl. */
function withKubeFlags(command: Command): Command {
  return command.option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG, ~/.kube/config)').option('--context <name>', 'kubeconfig context (default: the current one)');
}

const output = () => new Option('-o, --output <format>', 'print json or yaml instead of a table').choices(['json', 'yaml']);

const specVerbs = () => require('./spec-verbs') as typeof import('./spec-verbs');

function status(): Command {
  return withKubeFlags(
    new Command('status')
      .summary('the plan and its nodes (phase, step, counts, per-node phase and attempt)')
      .description(
        'Shows the plan — phase and conditions, strategy, step i/n, node counts, what it waits for — and one row per node: phase (DESIGN ' +
          "§4's, from the operator's mark refined by the agent's report), attempt, the operator's request, the agent's phase, kernel, " +
          'reason and how long the node has been in its phase. --watch re-renders on every change until the plan is Completed, ' +
          'Previewed, Halted, Failed or Aborted (exit 0 for Completed and Previewed, 1 otherwise), --timeout elapses (exit 1) or Ctrl-C.',
      )
      .argument('<plan>', 'LiveUpdatePlan name')
      .addOption(output())
      .option('-w, --watch', 're-render on every change until the plan settles')
      .option('--timeout <duration>', 'with --watch: give up after this long (e.g. 90s, 10m)'),
  ).action((plan: string, options: StatusOptions) => runModule(() => require('./status') as typeof import('./status'), { ...options, plan }));
}

function nodes(): Command {
  return withKubeFlags(
    new Command('nodes')
      .summary('every LiveUpdateNode: plan, phase, attempt, request, agent phase, kernel')
      .option('--plan <name>', 'only the nodes this plan works on or worked on')
      .addOption(output()),
  ).action((options: NodesOptions) => runModule(() => require('./nodes') as typeof import('./nodes'), options));
}

function pause(): Command {
  return withKubeFlags(
    new Command('pause')
      .summary('stop starting nodes (spec.strategy.paused: true); nodes in flight finish')
      .argument('<plan>', 'LiveUpdatePlan name'),
  ).action((plan: string, options: SpecVerbOptions) => runModule(() => ({ run: specVerbs().pause }), { ...options, plan }));
}

function resume(): Command {
  return withKubeFlags(
    new Command('resume').summary('start nodes again after pause (spec.strategy.paused: false)').argument('<plan>', 'LiveUpdatePlan name'),
  ).action((plan: string, options: SpecVerbOptions) => runModule(() => ({ run: specVerbs().resume }), { ...options, plan }));
}

function approve(): Command {
  return withKubeFlags(
    new Command('approve')
      .summary("end a step's pause that waits for approval (appends to spec.approvals)")
      .description(
        'Appends { step, by, at } to spec.approvals (append-only: who approved what stays on the plan). Without --step it approves the ' +
          'step whose pause the plan is waiting in (status.pause); with --step it may approve a later step ahead of time.',
      )
      .argument('<plan>', 'LiveUpdatePlan name')
      .option('--step <n>', 'the step to approve (0 = the canary; default: the one the plan waits for)')
      .option('--note <text>', 'a note kept with the approval'),
  ).action((plan: string, options: SpecVerbOptions) => runModule(() => ({ run: specVerbs().approve }), { ...options, plan }));
}

function abort(): Command {
  return withKubeFlags(
    new Command('abort')
      .summary('cancel every node before the point of no return and stop for good (spec.abort: true)')
      .description(
        'Sets spec.abort: nodes before the point of no return are cancelled and uncordoned, nodes already executing finish, and no node ' +
          'starts again; abort cannot be undone (create a new plan to roll again). Asks for confirmation on a terminal unless --yes.',
      )
      .argument('<plan>', 'LiveUpdatePlan name')
      .option('-y, --yes', 'do not ask for confirmation'),
  ).action((plan: string, options: SpecVerbOptions) => runModule(() => ({ run: specVerbs().abort }), { ...options, plan }));
}

function preview(): Command {
  return withKubeFlags(
    new Command('preview')
      .summary('create a plan file in Preview mode and show which nodes it would update, in which order, without touching any')
      .description(
        "Creates the plan of PLAN_FILE (YAML or JSON) with strategy.mode: Preview and prints the operator's preview (status.preview: " +
          'eligibility of every selected node, order, batches per step) once it is there. If a plan of that name exists, shows it instead. ' +
          'Set strategy.mode: Execute on the plan to roll.',
      )
      .argument('<plan-file>', 'LiveUpdatePlan manifest')
      .addOption(output())
      .option('--timeout <duration>', 'how long to wait for the operator to fill the preview', '60s'),
  ).action((file: string, options: PreviewOptions) => runModule(() => require('./preview') as typeof import('./preview'), { ...options, file }));
}

function release(): Command {
  return withKubeFlags(
    new Command('release')
      .summary('give back a node a plan failed and left cordoned for a human (its claim and cordon mark cleared, uncordoned)')
      .description(
        'Clears what a plan holds on NODE after failing it: the claim on its LiveUpdateNode (the failure stays on record as released, ' +
          'so the plan never retries it) and the liveupdate.dev/cordoned-by mark on the Node, lifting that cordon unless --keep-cordon. ' +
          'Other plans then consider the node again. A node in the middle of an update is refused (abort its plan instead). ' +
          'kubectl uncordon on a failed node has the same effect: the operator releases it. Asks for confirmation on a terminal unless --yes.',
      )
      .argument('<node>', 'Node name')
      .option('--keep-cordon', 'clear our mark but leave the node cordoned (as a cordon of your own)')
      .option('-y, --yes', 'do not ask for confirmation'),
  ).action((node: string, options: ReleaseOptions) => runModule(() => require('./release') as typeof import('./release'), { ...options, node }));
}

export function addPluginCommands(program: Command): void {
  program.commandsGroup(GROUP);
  for (const command of [status(), nodes(), pause(), resume(), approve(), abort(), release(), preview()]) program.addCommand(command);
}
