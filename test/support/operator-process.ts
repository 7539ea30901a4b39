// `liveupdate operator` as its own OS process, as a Deployment runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { trackChild } from './children';
import path from 'node:path';

const CLI = path.resolve(__dirname, '../../src/cli/main.ts');

export class OperatorProcess {
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private output = '';

  constructor(kubeconfig: string, extraArgs: string[] = [], env: Record<string, string> = {}) {
    const args = ['-r', 'ts-node/register', CLI, 'operator', '--kubeconfig', kubeconfig, '--metrics-bind-address', '0', '--health-probe-bind-address', '0', ...extraArgs];
    this.child = spawn(process.execPath, args, { env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', LOG_LEVEL: process.env.OPERATOR_LOG_LEVEL ?? 'info', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    trackChild(this.child);
    this.child.stderr?.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-400_000)));
    this.exit = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        resolve({ code, signal });
      }),
    );
  }

  get log(): string {
    return this.output;
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
