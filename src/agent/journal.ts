// The agent's durable memory: one JSON file per node, the only thing that survives a kexec besides the kernel's own
// handover. Written atomically (temp file, fsync, rename, fsync the directory) so a crash leaves the old or the new
// journal, never half of one. A journal that does not parse is never guessed at: the agent refuses to act.
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { Bdf, KernelTarget, Time } from '../api/fields';
import { formatFieldPath } from '../util/field-path';

export const JOURNAL_VERSION = 1;
export const JOURNAL_FILE = 'journal.json';

export const JournalPhase = z.enum(['Preparing', 'Prepared', 'Executing', 'Rebooted', 'Verified', 'Finished', 'Cancelled', 'Failed']);
export type JournalPhase = z.infer<typeof JournalPhase>;

const Timings = z.object({ prepareMs: z.number(), kexecMs: z.number(), blackoutMs: z.number(), verifyMs: z.number(), finishMs: z.number() }).partial();

export const Journal = z.strictObject({
  version: z.literal(JOURNAL_VERSION),
  planUid: z.string().min(1),
  planName: z.string().min(1),
  attempt: z.int().min(0),
  phase: JournalPhase,
  /** The agent process that wrote it: a mainline LUO session lives only as long as the process that created it. */
  holder: z.string(),
  /** Absent only for a Cancel of an attempt that was never prepared. */
  target: KernelTarget.optional(),
  /** Endpoints the operator asked for, and the closure (endpoints + every bridge above them) that was prepared. */
  preserve: z.array(Bdf),
  closure: z.array(z.object({ bdf: Bdf, flags: z.array(z.enum(['busmaster', 'busmaster-bridge'])) })),
  before: z.object({
    bootId: z.string(),
    kernelRelease: z.string(),
    busMaster: z.record(z.string(), z.boolean()),
    /** Simulator only: DMA time per endpoint (ms) and when it was read, just before kexec. */
    dma: z.object({ at: z.number(), counters: z.record(z.string(), z.number()) }).optional(),
  }),
  kexecIssuedAt: Time.optional(),
  /**
   * New kernel: what LUO handed over, journalled the moment the sessions were retrieved. A retrieved session dies with
   * the process holding it, so after a restart this record is the only proof that this boot was the live update.
   */
  handover: z
    .object({
      sessions: z.array(z.string()),
      attemptKeys: z.array(z.object({ planUid: z.string(), node: z.string(), attempt: z.int().min(0) })).optional(),
    })
    .optional(),
  timings: Timings.default({}),
  verification: z
    .array(z.object({ bdf: Bdf, busMasterBefore: z.boolean(), busMasterAfter: z.boolean(), driverAfter: z.string().optional(), dmaContinuous: z.boolean().optional() }))
    .optional(),
  lastError: z.object({ reason: z.string(), message: z.string() }).optional(),
  updatedAt: Time,
});
export type Journal = z.infer<typeof Journal>;

export class JournalCorruptError extends Error {
  override name = 'JournalCorruptError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: journal unreadable (${detail}); refusing to act on this node until a human inspects it`);
  }
}

/** A journal write that did not reach the disk (ENOSPC, EIO, EROFS…): the agent publishes it as JournalWriteFailed. */
export class JournalWriteError extends Error {
  override name = 'JournalWriteError';
  constructor(
    readonly file: string,
    readonly errno: string,
    detail: string,
  ) {
    super(`${file}: ${errno}: journal write failed (${detail}); free space on or repair the file system of the agent's state directory`);
  }
}

/** The calls the journal makes, injectable so a test can see (and fail) each write, fsync and rename. */
export interface JournalFile {
  writeFile(data: string): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}
export interface JournalFs {
  readFile(file: string, encoding: 'utf8'): Promise<string>;
  rename(from: string, to: string): Promise<void>;
  open(file: string, flags: string, mode?: number): Promise<JournalFile>;
}

export class JournalStore {
  readonly file: string;

  constructor(
    readonly dir: string,
    private readonly fs: JournalFs = fsp,
  ) {
    this.file = path.join(dir, JOURNAL_FILE);
  }

  /** The journal, or undefined when none was ever written (a clean node). */
  async read(): Promise<Journal | undefined> {
    let text: string;
    try {
      text = await this.fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new JournalCorruptError(this.file, (err as Error).message);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new JournalCorruptError(this.file, `not JSON: ${(err as Error).message}`);
    }
    const version = (raw as { version?: unknown } | null)?.version;
    if (version !== JOURNAL_VERSION) throw new JournalCorruptError(this.file, `version ${JSON.stringify(version)}, this agent reads version ${JOURNAL_VERSION}`);
    const parsed = Journal.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new JournalCorruptError(this.file, `${formatFieldPath(issue?.path ?? []) || '(root)'}: ${issue?.message ?? 'invalid'}`);
    }
    return parsed.data;
  }

  /** Durable before it returns: the rename is only visible once the data and the directory entry are on disk. */
  async write(journal: Journal): Promise<void> {
    const content = JSON.stringify(Journal.parse(journal), null, 1);
    const temp = `${this.file}.tmp`;
    await this.durably(temp, async () => {
      const handle = await this.fs.open(temp, 'w', 0o600);
      try {
        await handle.writeFile(content);
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    await this.durably(this.file, () => this.fs.rename(temp, this.file));
    await this.durably(this.dir, async () => {
      const dir = await this.fs.open(this.dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    });
  }

  /** Runs one step of a write; a file system error becomes a JournalWriteError naming `file` and the errno. */
  private async durably(file: string, step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (err) {
      const errno = (err as NodeJS.ErrnoException).code;
      if (typeof errno !== 'string') throw err;
      throw new JournalWriteError(file, errno, (err as Error).message);
    }
  }
}
