// `nodes [--plan NAME]`: every LiveUpdateNode with the plan working on it, its phase, attempt, request and kernel.
import { withCluster, type KubeFlags } from './kube';
import { formatOutput, nodeRow, nodeTable, type OutputFormat } from './render';

export interface NodesOptions extends KubeFlags {
  plan?: string;
  output?: OutputFormat;
}

export async function run(options: NodesOptions): Promise<number> {
  return withCluster(options, async (api) => {
    const [records, plans] = await Promise.all([api.records.list(), api.plans.list()]);
    const names = new Map(plans.map((p) => [p.metadata.uid ?? '', p.metadata.name ?? '']));
    // A node whose plan is gone still shows the uid its mark names.
    let rows = records.map((r) => nodeRow(r, (uid) => names.get(uid) ?? `(deleted plan ${uid})`)).sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    if (options.plan !== undefined) {
      await api.plan(options.plan); // a typo gets the not-found error listing the plans, not an empty table
      rows = rows.filter((r) => r.plan === options.plan);
    }
    if (options.output) process.stdout.write(formatOutput(rows, options.output));
    else if (rows.length === 0) process.stdout.write(options.plan ? `No LiveUpdateNode is worked on by plan ${options.plan} yet.\n` : 'No LiveUpdateNodes: no agent has reported yet.\n');
    else process.stdout.write(`${nodeTable(rows, Date.now(), { plan: true })}\n`);
    return 0;
  });
}
