// The one command tree behind `liveupdate` and `kubectl liveupdate` (commander). Only definitions live here and in
// the modules it composes; each command's code loads when that command runs, so every command pulls in only its
// own dependencies (host inspect never loads the Kubernetes client).
import { Command, CommanderError } from 'commander';
import { addComponentCommands } from './components';
import { addPluginCommands } from './plugin/commands';
import { UsageError } from './usage';

/** The name the tree runs under: the package's binary, or the kubectl plugin as kubectl dispatches to it. */
export type ProgramName = 'liveupdate' | 'kubectl liveupdate';

/** Every command of a tree, depth first. */
function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

/** "liveupdate sim fleet": the words that invoke a command. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Commander's "error: unknown option '--x'" as "Unknown option '--x'", after the command's own name. */
const errorLine = (command: Command, text: string): string => {
  const message = text.replace(/^error: /, '');
  return `${commandPath(command)}: ${message.charAt(0).toUpperCase()}${message.slice(1)}`;
};

export function buildProgram(name: ProgramName): Command {
  const program = new Command(name)
    .description(
      name === 'liveupdate'
        ? 'Kernel live updates (LUO + KHO) across VFIO passthrough hosts: the operator, the node agent, the simulator, and the rollout commands.'
        : 'Drive LiveUpdatePlans: status, nodes, pause, resume, approve, abort, preview.',
    )
  addPluginCommands(program);
  addComponentCommands(program);
  for (const command of allCommands(program))
    command
      // Errors come back to runProgram as CommanderError: exit status 2 (usage), or 0 for help.
      .exitOverride()
      .showHelpAfterError(`(add --help for the usage of ${commandPath(command)})`)
      .configureOutput({ outputError: (text, write) => write(errorLine(command, text)) });
  return program;
}

/**
 * Runs the tree on `argv` (the words after the program name) and sets the exit status: what the command returned;
 * 0 for help; 2 for bad usage (commander's own errors and UsageError); 1 for any other error, printed on one line.
 */
export async function runProgram(program: Command, argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2; // commander has printed the help or the error
      return;
    }
    process.stderr.write(`${program.name()}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
