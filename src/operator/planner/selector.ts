// Which nodes a plan selects: metav1 LabelSelector semantics plus an explicit name list.
import type { LabelSelector } from '../../api/fields';
import type { LiveUpdatePlanSpec } from '../../api/plan';

/** metav1.LabelSelector: every matchLabels pair and every expression must hold; `{}` matches every node. */
export function labelSelectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const held =
      operator === 'In' ? has && values.includes(labels[key]!)
      : operator === 'NotIn' ? !has || !values.includes(labels[key]!)
      : operator === 'Exists' ? has
      : !has;
    if (!held) return false;
  }
  return true;
}

/**
 * nodeNames, when given, limits the plan to those names (intersected with nodeSelector when both are set);
 * excludeSelector then removes nodes. A name in nodeNames that is no Node is the caller's to report.
 */
export function selects(selector: LiveUpdatePlanSpec['selector'], name: string, labels: Readonly<Record<string, string>>): boolean {
  const names = selector.nodeNames ?? [];
  if (names.length > 0 && !names.includes(name)) return false;
  if (selector.nodeSelector && !labelSelectorMatches(selector.nodeSelector, labels)) return false;
  return !(selector.excludeSelector && labelSelectorMatches(selector.excludeSelector, labels));
}
