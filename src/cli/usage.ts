import { durationMs } from '../api/duration';

/** Bad command-line usage: the CLI prints the message and exits 2. */
export class UsageError extends Error {}

/** Collects a repeatable option's values (`--match A --match B`). */
export const repeatable = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * A command's code, loaded only when the command runs (the reason the tree is split into definitions and modules);
 * what its `run` resolves to becomes the exit status.
 */
export async function runModule<O>(load: () => { run(options: O): Promise<number> }, options: O): Promise<void> {
  process.exitCode = await load().run(options);
}

/** A Go-style duration flag (30s, 10m, 1h30m) in milliseconds; anything else is a usage error naming the flag. */
export function durationFlag(flag: string, text: string): number {
  try {
    return durationMs(text);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}
