#!/usr/bin/env node
// One binary, sub-commands. Each command lives in its own module, loaded only when invoked.
import { UsageError } from './usage';

type CommandModule = { run(argv: string[]): Promise<number> };
type Command = { summary: string; load: () => CommandModule };

/** Commands load lazily so each pulls in only its own dependencies (host inspect never loads the Kubernetes client). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lazy = (id: string) => (): CommandModule => require(id) as CommandModule;

const commands: Record<string, Command> = {
  agent: { summary: 'run the node agent (prepare → kexec → finish on this node)', load: lazy('./agent') },
  demo: { summary: 'the whole system on a simulated fleet: control plane, operator, agents and a plan with a canary', load: lazy('./demo') },
  'control-plane': { summary: 'start a local kube-apiserver + etcd and print how to reach it', load: lazy('./control-plane') },
  operator: { summary: 'run the operator (reconciles LiveUpdatePlans)', load: lazy('./operator') },
  'host inspect': { summary: 'list PCI devices and the bus-master preservation plan of this host', load: lazy('./host-inspect') },
  'sim sysfs': { summary: 'write a fake sysfs tree (kernel layout) from a topology file', load: lazy('./sim-sysfs') },
  'sim fleet': { summary: 'simulated fleet: Node objects kept Ready and one agent per simulated node', load: lazy('./sim-fleet') },
  'sim node': { summary: 'prepare one simulated node dir (sysfs, proc, images) without starting anything', load: lazy('./sim-node') },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: liveupdate <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

/** Longest command name made of the leading words of argv (commands may be two words: "host inspect"). */
function resolve(argv: string[]): { name: string; rest: string[] } | undefined {
  for (let words = Math.min(2, argv.length); words > 0; words--) {
    const name = argv.slice(0, words).join(' ');
    if (commands[name]) return { name, rest: argv.slice(words) };
  }
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(usage());
    return argv.length === 0 ? 2 : 0;
  }
  const found = resolve(argv);
  if (!found) {
    process.stderr.write(`liveupdate: unknown command "${argv.join(' ')}"\n\n${usage()}`);
    return 2;
  }
  const command = commands[found.name]!.load();
  return command.run(found.rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`liveupdate: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`liveupdate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
