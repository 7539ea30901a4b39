// Raw JSON requests with the kubeconfig's credentials. The informer lists through this rather than the generated
// clients: those turn core objects into classes with Date fields, while watch events arrive as plain JSON — one
// shape for both keeps a single zod parser per kind. Errors are client-node's ApiException, like every other call.
import { ApiException, HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { reuseConnections } from './connections';

export type Query = Record<string, string | number | boolean | undefined>;

export async function requestJson(
  kc: KubeConfig,
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
  path: string,
  options: { query?: Query; body?: unknown; contentType?: string; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server + path);
  for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
  const ctx = new RequestContext(url.toString(), HttpMethod[method]);
  await reuseConnections(kc).applySecurityAuthentication(ctx);
  const headers = ctx.getHeaders() as unknown as Record<string, string>;
  headers.Accept = 'application/json';
  if (options.body !== undefined) headers['Content-Type'] = options.contentType ?? 'application/json';
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 60_000);
  const response = await fetch(url, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    dispatcher: ctx.getDispatcher() as never,
    signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
  });
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not a Status object: keep the raw text
    }
    throw new ApiException(response.status, `${method} ${path}: ${message}`, text, Object.fromEntries(response.headers));
  }
  return text.length > 0 ? (JSON.parse(text) as unknown) : undefined;
}
