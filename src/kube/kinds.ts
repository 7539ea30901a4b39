// Our custom resources as the generic runtime sees them.
import { GROUP, VERSION } from '../api/fields';
import type { LiveUpdateNode } from '../api/node';
import type { CoreNode } from '../api/core-node';
import { parseCoreNode, parseNode, parsePlan } from '../api/parse';
import type { LiveUpdatePlan } from '../api/plan';
import type { ResourceKind } from './resource-kind';

export const planKind: ResourceKind<LiveUpdatePlan> = { group: GROUP, version: VERSION, kind: 'LiveUpdatePlan', plural: 'liveupdateplans', parse: parsePlan };
export const nodeRecordKind: ResourceKind<LiveUpdateNode> = { group: GROUP, version: VERSION, kind: 'LiveUpdateNode', plural: 'liveupdatenodes', parse: parseNode };
export const coreNodeKind: ResourceKind<CoreNode> = { group: '', version: 'v1', kind: 'Node', plural: 'nodes', parse: parseCoreNode };
