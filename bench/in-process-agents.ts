// In-process agents for fleet-scale benches: the real runAgent on each simulated host, all reading their
// LiveUpdateNodes from one shared informer (one watch instead of one per node) routed by name.
import type { KubeConfig } from '@kubernetes/client-node';
import { runAgent } from '../src/agent/agent';
import type { LiveUpdateNode } from '../src/api/node';
import { Informer } from '../src/kube/informer';
import { nodeRecordKind } from '../src/kube/kinds';
import { NamedViews } from '../src/kube/named-views';
import type { InProcessAgent } from '../src/sim/fleet';

export class InProcessAgents {
  private readonly informer: Informer<LiveUpdateNode>;
  private readonly views: NamedViews<LiveUpdateNode>;

  constructor(private readonly kc: KubeConfig) {
    this.informer = new Informer({ kc, kind: nodeRecordKind });
    this.views = new NamedViews(this.informer);
  }

  start(): void {
    this.informer.start();
  }

  /** For SimFleet's `agents: { kind: 'in-process', run }`. */
  readonly run: InProcessAgent = async (r) => {
    const records = this.views.view(r.node);
    try {
      return await runAgent({ kc: this.kc, node: r.node, host: r.host, stateDir: r.paths.stateDir, signal: r.signal, onReady: r.onReady, records });
    } finally {
      records.close();
    }
  };

  stop(): Promise<void> {
    return this.informer.stop();
  }
}
