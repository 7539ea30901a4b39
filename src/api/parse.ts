// The one way operator and agent read objects from the API: zod parse with errors naming object and field path.
import type { z } from 'zod';
import { formatFieldPath } from '../util/field-path';
import { CoreNode } from './core-node';
import { LiveUpdateNode } from './node';
import { LiveUpdatePlan } from './plan';

export interface FieldIssue {
  /** Dotted path with [index] for arrays, e.g. spec.strategy.steps[0].nodes. */
  path: string;
  message: string;
}

export class ApiParseError extends Error {
  constructor(
    readonly kind: string,
    readonly objectName: string,
    readonly issues: FieldIssue[],
  ) {
    super(`${kind} "${objectName}" is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
  override name = 'ApiParseError';
}

function parseWith<S extends z.ZodType>(schema: S, kind: string, object: unknown): z.output<S> {
  const result = schema.safeParse(object);
  if (result.success) return result.data;
  const name = (object as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  const issues = result.error.issues.map((issue) => ({ path: formatFieldPath(issue.path) || '(root)', message: issue.message }));
  throw new ApiParseError(kind, typeof name === 'string' ? name : '(unnamed)', issues);
}

export const parsePlan = (object: unknown): LiveUpdatePlan => parseWith(LiveUpdatePlan, 'LiveUpdatePlan', object);
export const parseNode = (object: unknown): LiveUpdateNode => parseWith(LiveUpdateNode, 'LiveUpdateNode', object);
export const parseCoreNode = (object: unknown): CoreNode => parseWith(CoreNode, 'Node', object);
