// One structured logger for the long-running commands. JSON lines on stderr (pino); LOG_LEVEL sets the level.
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

/** A logger that drops everything, for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** The message of an unknown thrown value, with the HTTP status when the client attached one. */
export function errorSummary(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; statusCode?: unknown; message?: unknown; name?: unknown };
    const status = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : undefined;
    const message = typeof e.message === 'string' ? e.message.split('\n')[0] : JSON.stringify(err);
    const name = typeof e.name === 'string' ? e.name : 'Error';
    return status === undefined ? `${name}: ${message}` : `HTTP ${status}: ${message}`;
  }
  return String(err);
}
