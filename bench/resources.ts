// What the benches share: what a bench starts (control plane, scratch dir, fleet, operator…) is stopped once, newest
// first — at the end, on a failure, or on SIGINT / SIGTERM / SIGHUP (then the bench exits 130) — and the operator's
// runtime env.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { OPERATOR_RUNTIME_ENV } from '../src/api/chart-values';
import { LocalControlPlane } from '../src/envtest/control-plane';

/**
 * The operator process's runtime env: the chart's operator.runtimeEnv, or what an --operator-env flag says instead
 * ('K=V K2=V2'; '' for Node's and glibc's defaults), for comparing memory settings.
 */
export function operatorRuntimeEnv(flag: string | undefined): Record<string, string> {
  if (flag === undefined) return OPERATOR_RUNTIME_ENV;
  return Object.fromEntries(flag.split(' ').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

export class BenchResources {
  private readonly stops: (() => Promise<unknown>)[] = [];
  private stopping: Promise<void> | undefined;

  constructor() {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => void this.stop().finally(() => process.exit(130)));
  }

  /** Registers `resource` to be stopped with `stop`; returns it. */
  add<T>(resource: T, stop: (resource: T) => Promise<unknown>): T {
    this.stops.push(() => stop(resource));
    return resource;
  }

  /** A local control plane (CRDs installed) and an admin KubeConfig for it. */
  async controlPlane(options: { audit?: boolean } = {}): Promise<{ plane: LocalControlPlane; admin: KubeConfig }> {
    const plane = this.add(await LocalControlPlane.start({ crdDir: path.resolve(__dirname, '../crds'), ...options }), (p) => p.stop());
    const admin = new KubeConfig();
    admin.loadFromString(plane.kubeconfig());
    return { plane, admin };
  }

  /** A scratch directory under the system temp dir, removed at the end. */
  async scratchDir(prefix: string): Promise<string> {
    return this.add(await mkdtemp(path.join(os.tmpdir(), prefix)), (dir) => rm(dir, { recursive: true, force: true }));
  }

  /** Stops everything registered, newest first; a failing stop is reported and the others still run. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const stop of this.stops.reverse()) await stop().catch((err: unknown) => console.error('bench clean-up:', err));
    })();
    return this.stopping;
  }
}
