// In-process agents for fleet-scale benches: the real runAgent on each simulated host, all reading their
// LiveUpdateNodes from one shared informer (one watch instead of one per node) routed by name.
import type { KubeConfig } from '@kubernetes/client-node';
import { runAgent } from '../src/agent/agent';
import type { LiveUpdateNode } from '../src/api/node';
import { Informer } from '../src/kube/informer';
import { nodeRecordKind } from '../src/kube/kinds';
import { NamedViews } from '../src/kube/named-views';
import type { InProcessAgent } from '../src/sim/fleet';

/**
 * Agents reading their first inventory at once. Thousands of simulated hosts in one process would otherwise open
 * sysfs files faster than the descriptor limit allows (EMFILE makes devices vanish from an inventory).
 */
const STARTING_AT_ONCE = 64;
/** Idle agents re-read their devices this often: the benches measure the operator and the rollout, not idle sysfs reads. */
const INVENTORY_INTERVAL_MS = 10 * 60_000;

export class InProcessAgents {
  private readonly informer: Informer<LiveUpdateNode>;
  private readonly views: NamedViews<LiveUpdateNode>;
  private starting = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly kc: KubeConfig) {
    this.informer = new Informer({ kc, kind: nodeRecordKind });
    this.views = new NamedViews(this.informer);
  }

  start(): void {
    this.informer.start();
  }

  /** For SimFleet's `agents: { kind: 'in-process', run }`. */
  readonly run: InProcessAgent = async (r) => {
    await this.startSlot();
    // The slot is given back once the agent is up (its first report) or has ended, whichever comes first.
    let released = false;
    const releaseSlot = () => {
      if (released) return;
      released = true;
      this.starting--;
      this.waiting.shift()?.();
    };
    const records = this.views.view(r.node);
    try {
      return await runAgent({
        kc: this.kc,
        node: r.node,
        host: r.host,
        stateDir: r.paths.stateDir,
        signal: r.signal,
        onReady: (bootId) => {
          releaseSlot();
          r.onReady(bootId);
        },
        records,
        inventoryIntervalMs: INVENTORY_INTERVAL_MS,
      });
    } finally {
      releaseSlot();
      records.close();
    }
  };

  stop(): Promise<void> {
    return this.informer.stop();
  }

  private async startSlot(): Promise<void> {
    while (this.starting >= STARTING_AT_ONCE) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.starting++;
  }
}
