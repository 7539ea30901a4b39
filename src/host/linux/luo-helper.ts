// Client of native/luo-helper (see the comment at the top of native/luo-helper.c for why it is a separate C
// program): spawns `luo-helper serve`, which becomes the long-lived holder of /dev/liveupdate and of the session
// fds, and exchanges one command line / one JSON reply line at a time.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { projectPath } from '../../util/package-root';

export interface HelperReply {
  ok: boolean;
  errno?: string;
  code?: number;
  message?: string;
  [field: string]: unknown;
}

/** A failed kernel call, carrying the errno name the kernel returned (EBUSY, ENOENT, ENOTTY...). */
export class LuoCallError extends Error {
  constructor(
    readonly command: string,
    readonly errno: string,
    message: string,
  ) {
    super(`luo-helper ${command}: ${message}`);
    this.name = 'LuoCallError';
  }
}

/** The project's native/build/luo-helper (from src/ or dist/); LIVEUPDATE_LUO_HELPER overrides. */
export function defaultHelperPath(): string {
  return process.env['LIVEUPDATE_LUO_HELPER'] || projectPath('native', 'build', 'luo-helper');
}

export class LuoHelper {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly waiting: Array<(reply: HelperReply) => void> = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly helperPath: string,
    private readonly devicePath: string,
  ) {}

  /** Sends one command; commands are serialized because replies carry no id. */
  call(command: string): Promise<HelperReply> {
    const result = this.queue.then(() => this.roundTrip(command));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Like call(), but a kernel error becomes a LuoCallError. */
  async check(command: string): Promise<HelperReply> {
    const reply = await this.call(command);
    if (!reply.ok) throw new LuoCallError(command, reply.errno ?? 'EUNKNOWN', reply.message ?? 'failed');
    return reply;
  }

  /**
   * The pid of the running helper, undefined when none runs. A helper that died is replaced silently by the next
   * call, so whoever relies on fds it held (a prepared session) must compare this pid with the one it prepared with.
   */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ends the holder: every session fd it still holds is closed, which cancels an unexecuted mainline update. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin.end();
    await exited;
  }

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn(this.helperPath, ['serve', '--dev', this.devicePath], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => this.waiting.shift()?.(parseReply(line)));
    const failAll = (message: string) => {
      if (this.child === child) this.child = undefined;
      for (const resolve of this.waiting.splice(0)) resolve({ ok: false, errno: 'EPIPE', message });
    };
    child.on('error', (error) => failAll(`cannot run ${this.helperPath}: ${error.message} (run npm run build:native)`));
    child.on('exit', (code, signal) => failAll(`luo-helper exited (code ${code}, signal ${signal})`));
    // A write to a helper that could not start fails here too; the 'error' / 'exit' handlers report it.
    child.stdin.on('error', () => undefined);
    this.child = child;
    return child;
  }

  private roundTrip(command: string): Promise<HelperReply> {
    const child = this.child ?? this.start();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      child.stdin.write(`${command}\n`);
    });
  }
}

function parseReply(line: string): HelperReply {
  try {
    return JSON.parse(line) as HelperReply;
  } catch {
    return { ok: false, errno: 'EPROTO', message: `unparseable reply: ${line}` };
  }
}
