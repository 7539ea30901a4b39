// How to reach a local control plane (shared by the harness and the CRD installer), and its probe.
import http from 'node:http';
import https from 'node:https';

export interface Endpoint {
  server: string;
  caData: string;
  token: string;
}

/** The local control plane could not start or get ready; the message carries the process's last lines. */
export class ControlPlaneError extends Error {}

/** A kubeconfig document (YAML-compatible JSON) authenticating as `user` with the endpoint's token. */
export function kubeconfigFor(endpoint: Endpoint, user: string): string {
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'envtest', cluster: { server: endpoint.server, 'certificate-authority-data': Buffer.from(endpoint.caData).toString('base64') } }],
      users: [{ name: user, user: { token: endpoint.token } }],
      contexts: [{ name: user, context: { cluster: 'envtest', user } }],
      'current-context': user,
    },
    null,
    2,
  );
}

/** A GET with an optional CA and bearer token; used for readiness probes before any client exists. */
export function httpGet(url: string, auth?: { ca: string; token: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const options = auth ? { ca: auth.ca, headers: { authorization: `Bearer ${auth.token}` } } : {};
    const request = (url.startsWith('https:') ? https : http).get(url, options, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    request.setTimeout(2000, () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}
