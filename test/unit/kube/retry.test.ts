import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { isConflict, isNotFound, isTransient, retryOnConflict, withTransientRetry } from '../../../src/kube/retry';

/** What client-node's generated clients reject with: the Status body as the apiserver sent it. */
const api = (code: number, reason: string) =>
  new ApiException(code, `Unknown API Status Code!`, JSON.stringify({ kind: 'Status', status: 'Failure', reason, code }), {});

/** What undici's fetch rejects with when the connection fails: a TypeError whose cause has the system code. */
const fetchFailed = (code: string, message = `connect ${code} 127.0.0.1:6443`) =>
  new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }) });

const systemError = (code: string) => Object.assign(new Error(code), { code });
const timeout = () => new DOMException('The operation was aborted due to timeout', 'TimeoutError');

const CASES: { what: string; err: unknown; conflict?: boolean; notFound?: boolean; transient: boolean }[] = [
  { what: 'ApiException 409 Conflict', err: api(409, 'Conflict'), conflict: true, transient: false },
  { what: 'ApiException 404 NotFound', err: api(404, 'NotFound'), notFound: true, transient: false },
  { what: 'ApiException 500 InternalError', err: api(500, 'InternalError'), transient: true },
  { what: 'ApiException 503 ServiceUnavailable', err: api(503, 'ServiceUnavailable'), transient: true },
  { what: 'ApiException 504 Timeout', err: api(504, 'Timeout'), transient: true },
  { what: 'ApiException 429 TooManyRequests', err: api(429, 'TooManyRequests'), transient: true },
  { what: 'ApiException 403 Forbidden', err: api(403, 'Forbidden'), transient: false },
  { what: 'ApiException 422 Invalid', err: api(422, 'Invalid'), transient: false },
  { what: 'ApiException 400 BadRequest', err: api(400, 'BadRequest'), transient: false },
  { what: 'ApiException 401 Unauthorized', err: api(401, 'Unauthorized'), transient: false },
  { what: 'undici fetch failed, ECONNREFUSED', err: fetchFailed('ECONNREFUSED'), transient: true },
  { what: 'undici fetch failed, ECONNRESET', err: fetchFailed('ECONNRESET', 'read ECONNRESET'), transient: true },
  { what: 'undici fetch failed, UND_ERR_SOCKET', err: fetchFailed('UND_ERR_SOCKET', 'other side closed'), transient: true },
  { what: 'undici fetch failed, UND_ERR_CONNECT_TIMEOUT', err: fetchFailed('UND_ERR_CONNECT_TIMEOUT'), transient: true },
  { what: 'undici fetch failed, UND_ERR_HEADERS_TIMEOUT', err: fetchFailed('UND_ERR_HEADERS_TIMEOUT'), transient: true },
  {
    what: 'dual-stack connect refused (AggregateError cause)',
    err: new TypeError('fetch failed', { cause: new AggregateError([systemError('ECONNREFUSED'), systemError('ECONNREFUSED')]) }),
    transient: true,
  },
  { what: 'EPIPE', err: systemError('EPIPE'), transient: true },
  { what: 'socket hang up', err: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), transient: true },
  { what: 'request timeout (TimeoutError)', err: timeout(), transient: true },
  { what: 'AbortError caused by a timeout', err: Object.assign(new DOMException('aborted', 'AbortError'), { cause: timeout() }), transient: true },
  { what: 'AbortError from a caller cancelling', err: new DOMException('This operation was aborted', 'AbortError'), transient: false },
  { what: 'undici fetch failed, invalid argument', err: fetchFailed('UND_ERR_INVALID_ARG', 'invalid method'), transient: false },
  { what: 'a programming error', err: new TypeError("Cannot read properties of undefined (reading 'name')"), transient: false },
  { what: 'a thrown string', err: 'boom', transient: false },
];

describe('error classification', () => {
  for (const c of CASES) {
    it(`${c.what}: conflict ${c.conflict ?? false}, not found ${c.notFound ?? false}, transient ${c.transient}`, () => {
      assert.equal(isConflict(c.err), c.conflict ?? false);
      assert.equal(isNotFound(c.err), c.notFound ?? false);
      assert.equal(isTransient(c.err), c.transient);
    });
  }
});

/** A function failing with the given errors in turn, then returning 'ok'; counts its calls. */
function failing(...errors: Error[]) {
  const fn = async () => {
    fn.calls++;
    const err = errors[fn.calls - 1];
    if (err !== undefined) throw err;
    return 'ok';
  };
  fn.calls = 0;
  return fn;
}

const fast = { minTimeout: 1, maxTimeout: 5 };

describe('withTransientRetry', () => {
  it('retries transient failures until the call succeeds', async () => {
    const fn = failing(api(503, 'ServiceUnavailable'), fetchFailed('ECONNREFUSED'), api(429, 'TooManyRequests'));
    assert.equal(await withTransientRetry(fn, fast), 'ok');
    assert.equal(fn.calls, 4);
  });

  it('stops at once on a 4xx other than 429 and rejects with that very error', async () => {
    for (const code of [400, 403, 404, 409, 422]) {
      const err = api(code, 'X');
      const fn = failing(err);
      await assert.rejects(withTransientRetry(fn, fast), (e) => e === err);
      assert.equal(fn.calls, 1, `HTTP ${code} was retried`);
    }
  });

  it('gives up after `retries` retries with the last error', async () => {
    const errors = Array.from({ length: 10 }, () => api(500, 'InternalError'));
    const fn = failing(...errors);
    await assert.rejects(withTransientRetry(fn, { ...fast, retries: 2 }), (e) => e === errors[2]);
    assert.equal(fn.calls, 3);
  });
});

describe('retryOnConflict', () => {
  it('re-runs the read-modify-write on 409 and returns its result', async () => {
    let version = 0;
    const seen: number[] = [];
    const result = await retryOnConflict(async (attempt) => {
      seen.push(attempt);
      const read = ++version; // a fresh read each time
      if (read < 3) throw api(409, 'Conflict');
      return read;
    });
    assert.equal(result, 3);
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('gives up after `steps` tries, and does not retry other errors', async () => {
    const conflicts = failing(...Array.from({ length: 10 }, () => api(409, 'Conflict')));
    await assert.rejects(retryOnConflict(conflicts, { steps: 4 }), (e) => isConflict(e));
    assert.equal(conflicts.calls, 4);
    const forbidden = failing(api(403, 'Forbidden'));
    await assert.rejects(retryOnConflict(forbidden), (e) => e instanceof ApiException && e.code === 403);
    assert.equal(forbidden.calls, 1);
  });
});
