// A tiny HTTP server for probes and metrics: GET on fixed paths, nothing else. Bind addresses use
// controller-runtime's form (":8081" = all interfaces, "127.0.0.1:8081", port 0 = any free port).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Reply {
  status: number;
  contentType: string;
  body: string;
}

export type Route = () => Reply | Promise<Reply>;

export function parseBindAddress(address: string): { host: string | undefined; port: number } {
  const match = /^(.*):(\d{1,5})$/.exec(address);
  if (!match) throw new Error(`bind address "${address}" must look like :8080 or 127.0.0.1:8080`);
  const host = match[1]?.replace(/^\[(.*)\]$/, '$1');
  return { host: host ? host : undefined, port: Number(match[2]) };
}

export class ProbeServer {
  private readonly server: http.Server;

  constructor(
    private readonly bindAddress: string,
    routes: Record<string, Route>,
  ) {
    this.server = http.createServer((req, res) => {
      const route = req.method === 'GET' ? routes[new URL(req.url ?? '/', 'http://x').pathname] : undefined;
      if (!route) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      Promise.resolve()
        .then(route)
        .then(
          (reply) => res.writeHead(reply.status, { 'content-type': reply.contentType }).end(reply.body),
          (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
        );
    });
  }

  listen(): Promise<void> {
    const { host, port } = parseBindAddress(this.bindAddress);
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** host:port actually bound (the real port when 0 was asked). */
  get address(): string {
    const info = this.server.address() as AddressInfo | null;
    return info ? `${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}` : this.bindAddress;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
