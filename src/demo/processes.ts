// The demo's own processes and its stop conditions: the operator as a child process logging to a file, a record of
// every pid the demo started (tests check none outlives it), and the signals or parent death that end the demo.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync } from 'node:fs';
import { defaultAgentCommand } from '../sim/fleet';

/** `liveupdate <command>` the way the fleet starts agents: from source under ts-node, or the built CLI. */
export function cliCommand(command: string): string[] {
  return [...defaultAgentCommand().slice(0, -1), command];
}

/** Appends "<pid> <what>" lines to a file as processes start: readable while the demo runs and after it died. */
export class PidFile {
  private readonly known = new Set<number>();

  constructor(readonly file: string) {}

  add(pids: readonly number[], what: string): void {
    const fresh = pids.filter((p) => !this.known.has(p));
    fresh.forEach((p) => this.known.add(p));
    if (fresh.length > 0) appendFileSync(this.file, fresh.map((p) => `${p} ${what}\n`).join(''));
  }
}

export class OperatorProcess {
  private readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly killOnExit = (): void => void (this.alive && this.child.kill('SIGKILL'));

  constructor(args: string[], logFile: string) {
    const [command, ...prefix] = cliCommand('operator');
    const log = openSync(logFile, 'a');
    try {
      // Same process group as the demo: a Ctrl-C in the terminal reaches it too, and it drains on SIGINT / SIGTERM.
      this.child = spawn(command!, [...prefix, ...args], { stdio: ['ignore', log, log], env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } });
    } finally {
      closeSync(log);
    }
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({ code, signal }));
      this.child.on('error', () => resolve({ code: null, signal: null }));
    });
    process.on('exit', this.killOnExit);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined;
  }

  /** SIGTERM (the operator drains and releases what it holds), SIGKILL after the grace period. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.alive) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.killOnExit(), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    process.removeListener('exit', this.killOnExit);
  }
}

export type StopCause = { kind: 'signal'; signal: NodeJS.Signals } | { kind: 'parent-exited'; parent: number };

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Resolves on SIGINT, SIGTERM or SIGHUP, or when the parent process is gone (its pid changed: we were re-parented).
 * The last is the fallback for a parent that dies without passing its signal on (npm does not forward SIGHUP).
 * The handlers stay installed until dispose(), so a second Ctrl-C during cleanup does not kill the demo half-way.
 */
export function watchStop(onRepeat: (cause: StopCause) => void, pollMs = 500): { stopped: Promise<StopCause>; signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let resolveStop!: (cause: StopCause) => void;
  const stopped = new Promise<StopCause>((resolve) => (resolveStop = resolve));
  const fire = (cause: StopCause) => {
    if (controller.signal.aborted) return onRepeat(cause);
    controller.abort(cause);
    resolveStop(cause);
  };
  const handlers = STOP_SIGNALS.map((signal) => [signal, () => fire({ kind: 'signal', signal })] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  const parent = process.ppid;
  const poll = setInterval(() => process.ppid !== parent && fire({ kind: 'parent-exited', parent }), pollMs);
  poll.unref();
  return {
    stopped,
    signal: controller.signal,
    dispose: () => {
      clearInterval(poll);
      for (const [signal, handler] of handlers) process.removeListener(signal, handler);
    },
  };
}

export function describeStop(cause: StopCause): string {
  return cause.kind === 'signal' ? cause.signal : `parent process ${cause.parent} exited`;
}
