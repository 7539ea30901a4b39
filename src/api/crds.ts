// CustomResourceDefinitions generated from the zod schemas: the schemas are the single source of truth.
import { z } from 'zod';
import { GROUP, VERSION } from './fields';
import { LiveUpdateNode } from './node';
import { LiveUpdatePlan } from './plan';
import { toStructural, type Schema } from './structural';

interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  schema: z.ZodType;
  columns: { name: string; type: 'string' | 'integer' | 'date'; jsonPath: string; priority?: number; description: string }[];
}

export const KINDS: KindDefinition[] = [
  {
    kind: 'LiveUpdatePlan',
    plural: 'liveupdateplans',
    singular: 'liveupdateplan',
    shortNames: ['lup'],
    schema: LiveUpdatePlan,
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Rollout phase' },
      { name: 'Done', type: 'string', jsonPath: '.status.progress', description: 'Succeeded of selected nodes' },
      { name: 'Failed', type: 'integer', jsonPath: '.status.summary.failed', description: 'Failed nodes' },
      { name: 'In-Flight', type: 'integer', jsonPath: '.status.summary.inFlight', description: 'Nodes being updated now' },
      { name: 'Kernel', type: 'string', jsonPath: '.spec.target.kernel.release', description: 'Target kernel release' },
      { name: 'Mode', type: 'string', jsonPath: '.spec.strategy.mode', priority: 1, description: 'Preview or Execute' },
      { name: 'Step', type: 'integer', jsonPath: '.status.currentStep', priority: 1, description: 'Current strategy step' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Age' },
    ],
  },
  {
    kind: 'LiveUpdateNode',
    plural: 'liveupdatenodes',
    singular: 'liveupdatenode',
    shortNames: ['lun'],
    schema: LiveUpdateNode,
    columns: [
      { name: 'Plan', type: 'string', jsonPath: '.spec.planRef.name', description: 'Plan driving this node' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Agent phase' },
      { name: 'Kernel', type: 'string', jsonPath: '.status.kernelRelease', description: 'Running kernel release' },
      { name: 'Devices', type: 'integer', jsonPath: '.status.preservedDevices', description: 'Devices whose DMA is preserved' },
      { name: 'Action', type: 'string', jsonPath: '.spec.action', priority: 1, description: 'Operator request' },
      { name: 'Attempt', type: 'integer', jsonPath: '.spec.attempt', priority: 1, description: 'Attempt number' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Age' },
    ],
  },
];

/** The openAPIV3Schema of a kind: zod → JSON Schema (input side, so defaults show) → structural. */
export function openApiSchema(schema: z.ZodType): Schema {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' }) as Schema;
  const structural = toStructural(json);
  const properties = structural.properties as Record<string, Schema>;
  // apiVersion / kind / metadata are the apiserver's business; declare them the way Kubernetes types do.
  properties.apiVersion = { type: 'string' };
  properties.kind = { type: 'string' };
  properties.metadata = { type: 'object' };
  structural.required = ['spec'];
  return structural;
}

export function buildCrd(def: KindDefinition): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Cluster',
      names: { kind: def.kind, listKind: `${def.kind}List`, plural: def.plural, singular: def.singular, shortNames: def.shortNames, categories: ['liveupdate'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.columns,
          schema: { openAPIV3Schema: openApiSchema(def.schema) },
        },
      ],
    },
  };
}

export function crdFileName(def: KindDefinition): string {
  return `${GROUP}_${def.plural}.yaml`;
}
