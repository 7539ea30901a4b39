// Processes a test starts must end with the test process: at exit, and also when a signal ends it (the runner
// forwarding Ctrl-C or SIGTERM), where Node would otherwise exit without running 'exit' handlers.
import type { ChildProcess } from 'node:child_process';

const children = new Set<ChildProcess>();
let installed = false;

function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const)
    process.once(signal, () => {
      killAll();
      process.exit(code); // 'exit' handlers run: a SimFleet's own kill-on-exit takes its agents along
    });
}
