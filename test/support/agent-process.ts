// One `liveupdate agent --host sim` process, as a supervisor runs it: its ready line, its exit, a way to kill it.
import { spawn, type ChildProcess } from 'node:child_process';
import { trackChild } from './children';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { READY_LINE_PREFIX } from '../../src/agent/contract';

const CLI = path.resolve(__dirname, '../../src/cli/main.ts');

export interface SimAgentPaths {
  simDir: string;
  stateDir: string;
  imageDir: string;
}

export class AgentProcess {
  readonly ready: Promise<string>;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private stderr = '';

  constructor(kubeconfig: string, node: string, paths: SimAgentPaths, faults?: string, extraArgs: string[] = [], logLevel = 'warn') {
    const args = ['-r', 'ts-node/register', CLI, 'agent', '--node', node, '--host', 'sim', '--sim-dir', paths.simDir, '--state-dir', paths.stateDir, '--image-dir', paths.imageDir, '--kubeconfig', kubeconfig];
    if (faults) args.push('--faults', faults);
    args.push(...extraArgs);
    this.child = spawn(process.execPath, args, { env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', LOG_LEVEL: logLevel }, stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(this.child);
    this.child.stderr?.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-200_000)));
    this.exit = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        resolve({ code, signal });
      }),
    );
    this.ready = new Promise((resolve, reject) => {
      createInterface({ input: this.child.stdout! }).on('line', (line) => {
        if (line.startsWith(`${READY_LINE_PREFIX} ${node} `)) resolve(line.split(' ').pop()!);
      });
      void this.exit.then(({ code, signal }) => reject(new Error(`agent ${node} exited (${code ?? signal}) before it was ready:\n${this.stderr}`)));
    });
    this.ready.catch(() => undefined);
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
