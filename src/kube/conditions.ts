// metav1.Condition helpers, apimachinery's SetStatusCondition semantics: lastTransitionTime moves only when a condition
// appears or its status flips, so "since when" stays true across reason/message edits. Pure: callers pass `now`.
import { Condition } from '../api/fields';

export interface ConditionUpdate {
  type: string;
  status: Condition['status'];
  reason: string;
  message: string;
  observedGeneration?: number;
}

export interface ConditionsResult {
  conditions: Condition[];
  /** False exactly when the result equals the input. */
  changed: boolean;
}

/** RFC 3339 to the second, as the apiserver stores metav1.Time: a read-back then compares equal. */
export function conditionTime(now: Date): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Sets (adds or updates) one condition; the input array is not modified. */
export function setCondition(conditions: Condition[] | undefined, update: ConditionUpdate, now: Date): ConditionsResult {
  if (!Condition.shape.reason.safeParse(update.reason).success) {
    throw new Error(
      `condition ${update.type}: reason ${JSON.stringify(update.reason)} is not a valid metav1 reason ` +
        `(CamelCase: a letter, then letters, digits, '_', ',' or ':', not ending in ',' or ':'; 1 to 1024 characters)`,
    );
  }
  const list = conditions ?? [];
  const index = list.findIndex((c) => c.type === update.type);
  const existing = list[index];
  const next: Condition = {
    type: update.type,
    status: update.status,
    // Upstream replaces observedGeneration too: a missing one is not "keep the old one".
    ...(update.observedGeneration === undefined ? {} : { observedGeneration: update.observedGeneration }),
    lastTransitionTime: existing && existing.status === update.status ? existing.lastTransitionTime : conditionTime(now),
    reason: update.reason,
    message: update.message,
  };
  if (!existing) return { conditions: [...list, next], changed: true };
  const changed =
    existing.status !== next.status ||
    existing.reason !== next.reason ||
    existing.message !== next.message ||
    existing.observedGeneration !== next.observedGeneration;
  if (!changed) return { conditions: list, changed: false };
  return { conditions: list.map((c, i) => (i === index ? next : c)), changed: true };
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

export function removeCondition(conditions: Condition[] | undefined, type: string): ConditionsResult {
  const list = conditions ?? [];
  const kept = list.filter((c) => c.type !== type);
  return kept.length === list.length ? { conditions: list, changed: false } : { conditions: kept, changed: true };
}
