// client-node 2.0.1 builds a new undici Agent in every applySecurityAuthentication call, that is for every request:
// each request opens its own TLS connection (a handshake on both sides, no keep-alive reuse) and leaves it idle until
// the server drops it. Measured here: a LiveUpdateNode patch took 10–30 ms under load, most of it the handshake. One
// dispatcher per KubeConfig and set of TLS credentials restores client-go's behaviour: a few kept-alive connections.
import type { ApiConstructor, ApiType, KubeConfig, RequestContext } from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

const shared = new WeakSet<KubeConfig>();

/** Makes every request through `kc` reuse connections (idempotent); returns `kc`. */
export function reuseConnections(kc: KubeConfig): KubeConfig {
  if (shared.has(kc)) return kc;
  shared.add(kc);
  const authenticate = kc.applySecurityAuthentication.bind(kc);
  const dispatchers = new Map<string, Dispatcher>();
  kc.applySecurityAuthentication = async (context) => {
    await authenticate(context); // headers (a token may rotate) and a fresh, still unconnected dispatcher
    const fresh = context.getDispatcher();
    if (!fresh) return; // no TLS agent (plain HTTP without proxy): nothing to share
    // The connection depends on the server and the TLS material, not on the token sent in each request's header.
    const cluster = kc.getCurrentCluster();
    const user = kc.getCurrentUser();
    const key = JSON.stringify([cluster?.server, cluster?.caData, cluster?.caFile, cluster?.skipTLSVerify, cluster?.tlsServerName, cluster?.proxyUrl, user?.certData, user?.certFile, user?.keyData, user?.keyFile]);
    const kept = dispatchers.get(key);
    if (kept) context.setDispatcher(kept);
    else dispatchers.set(key, fresh);
  };
  return kc;
}

/** kc.makeApiClient with connection reuse. */
export function apiClient<T extends ApiType>(kc: KubeConfig, api: ApiConstructor<T>): T {
  return reuseConnections(kc).makeApiClient(api);
}
