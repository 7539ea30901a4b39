// Error classification and retries for API writes. client-node 2.x rejects with ApiException (numeric `.code`, the
// Status in `.body`) for HTTP errors, and undici fetch rejects with `TypeError: fetch failed` whose `.cause` carries
// the system or undici error code; a request timeout surfaces as a DOMException named TimeoutError.
import pRetry, { AbortError } from 'p-retry';
import { Backoff, sleep } from './backoff';

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
const TRANSIENT_MESSAGES = new Set(['socket hang up', 'other side closed']);

const isHttpStatus = (v: unknown): v is number => typeof v === 'number' && v >= 100 && v <= 599;

/**
 * The HTTP status an API error carries, if any. System errors have string codes; DOMException (AbortError,
 * TimeoutError) has small numeric legacy codes that are not statuses.
 */
export function httpStatus(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
  if (isHttpStatus(code)) return code;
  return isHttpStatus(statusCode) ? statusCode : undefined;
}

export const isConflict = (err: unknown): boolean => httpStatus(err) === 409;
export const isNotFound = (err: unknown): boolean => httpStatus(err) === 404;

/** The error, its causes and, for AggregateError (a dual-stack connect), the errors it aggregates. */
function* causeChain(err: unknown, depth = 0): Generator<object> {
  if (!err || typeof err !== 'object' || depth > 8) return;
  yield err;
  const { cause, errors } = err as { cause?: unknown; errors?: unknown };
  yield* causeChain(cause, depth + 1);
  if (Array.isArray(errors)) for (const e of errors) yield* causeChain(e, depth + 1);
}

const isTimeout = (err: unknown): boolean => [...causeChain(err)].some((e) => (e as { name?: unknown }).name === 'TimeoutError');

/**
 * Worth retrying as is: the server or the connection failed, not the request. HTTP 5xx and 429, connection resets and
 * refusals, timeouts. Other 4xx are answers; a plain AbortError is a caller's cancellation, not a timeout.
 */
export function isTransient(err: unknown): boolean {
  const status = httpStatus(err);
  if (status !== undefined) return status >= 500 || status === 429;
  if (isTimeout(err)) return true;
  return [...causeChain(err)].some((e) => {
    const { code, message } = e as { code?: unknown; message?: unknown };
    return (typeof code === 'string' && TRANSIENT_CODES.has(code)) || (typeof message === 'string' && TRANSIENT_MESSAGES.has(message));
  });
}

export interface TransientRetryOptions {
  retries?: number;
  minTimeout?: number;
  maxTimeout?: number;
}

/** Runs `fn`, retrying transient failures with jittered exponential backoff; any other error rejects at once. */
export function withTransientRetry<T>(fn: () => Promise<T>, options: TransientRetryOptions = {}): Promise<T> {
  const { retries = 5, minTimeout = 100, maxTimeout = 2000 } = options;
  return pRetry(
    async () => {
      try {
        return await fn();
      } catch (err) {
        if (isTransient(err)) throw err;
        // p-retry rejects with the wrapped error itself; non-Error values are wrapped so p-retry accepts them.
        throw new AbortError(err instanceof Error ? err : new Error(String(err)));
      }
    },
    { retries, minTimeout, maxTimeout, randomize: true },
  );
}

export interface ConflictRetryOptions {
  steps?: number;
}

/**
 * client-go's RetryOnConflict: `readModifyWrite` must read the object afresh each time; a 409 (someone else wrote
 * first) runs it again after a short jittered delay, up to `steps` tries in all. Other errors reject at once.
 */
export async function retryOnConflict<T>(readModifyWrite: (attempt: number) => Promise<T>, options: ConflictRetryOptions = {}): Promise<T> {
  const { steps = 5 } = options;
  const backoff = new Backoff({ initialMs: 10, maxMs: 100, jitter: 0.5 });
  for (let attempt = 1; ; attempt++) {
    try {
      return await readModifyWrite(attempt);
    } catch (err) {
      if (!isConflict(err) || attempt >= steps) throw err;
      await sleep(backoff.next());
    }
  }
}
