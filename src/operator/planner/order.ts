// The order in which eligible nodes are started. Deterministic: the same fleet and plan give the same order.
import { createHash } from 'node:crypto';
import type { LiveUpdatePlanSpec } from '../../api/plan';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** Code-unit order, not locale order: the same on every machine. */
export const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

interface Orderable {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/** Zones sorted by name (no label = zone ""), names sorted within each, then one node per zone per round. */
function zoneRoundRobin(nodes: readonly Orderable[]): string[] {
  const zones = new Map<string, string[]>();
  for (const n of nodes) {
    const zone = n.labels[ZONE_LABEL] ?? '';
    zones.set(zone, [...(zones.get(zone) ?? []), n.name]);
  }
  const queues = [...zones.entries()].sort(([a], [b]) => byName(a, b)).map(([, names]) => names.sort(byName));
  const order: string[] = [];
  for (let round = 0; order.length < nodes.length; round++) for (const q of queues) if (round < q.length) order.push(q[round]!);
  return order;
}

/** A shuffle seeded by the plan uid: sort by a hash of uid + name, so adding a node does not reshuffle the others. */
function seededShuffle(nodes: readonly Orderable[], seed: string): string[] {
  const key = (name: string) => createHash('sha256').update(`${seed}/${name}`).digest('hex');
  return nodes
    .map((n) => ({ name: n.name, key: key(n.name) }))
    .sort((a, b) => byName(a.key, b.key) || byName(a.name, b.name))
    .map((n) => n.name);
}

export function orderNodes(nodes: readonly Orderable[], order: LiveUpdatePlanSpec['strategy']['order'], planUid: string): string[] {
  if (order === 'Zone') return zoneRoundRobin(nodes);
  if (order === 'Random') return seededShuffle(nodes, planUid);
  return nodes.map((n) => n.name).sort(byName);
}
