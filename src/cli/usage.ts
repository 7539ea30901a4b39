import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Bad command-line usage: the CLI prints the message and exits 2. */
export class UsageError extends Error {}

/** node:util parseArgs with its errors turned into UsageError (exit code 2). */
export function parseOptions<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}
