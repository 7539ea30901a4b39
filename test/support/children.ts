// Processes a test starts must end with the test process: at exit, and also when a signal ends it (the runner
// forwarding Ctrl-C or SIGTERM), where Node would otherwise exit without running 'exit' handlers.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

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

const CLI = path.resolve(__dirname, '../../src/cli/main.ts');

/** `liveupdate <args>` from source as its own OS process, tracked so it ends with the test; stderr kept for failures. */
export class CliProcess {
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  protected readonly child: ChildProcess;
  private stderr = '';

  /** `entry`: how Node starts the CLI; default from source under ts-node (benches pass the built dist/src/cli/main.js). */
  constructor(args: string[], env: Record<string, string>, stdout: 'pipe' | 'ignore', entry: string[] = ['-r', 'ts-node/register', CLI]) {
    this.child = spawn(process.execPath, [...entry, ...args], { env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', ...env }, stdio: ['ignore', stdout, 'pipe'] });
    trackChild(this.child);
    this.child.stderr?.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-400_000)));
    this.exit = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get log(): string {
    return this.stderr;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exit;
  }
}
