// The local control plane's audit log: a policy that records who wrote what (write verbs at Metadata level, one event
// per request at ResponseComplete), and the few fields of audit.k8s.io/v1 Event that benchmarks and tests count by.
import { readFile } from 'node:fs/promises';

export const WRITE_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection'] as const;

/** audit.k8s.io/v1 Policy (JSON is YAML): writes at Metadata, everything else (reads, watches) not at all. */
export const AUDIT_POLICY = {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived', 'ResponseStarted', 'Panic'],
  rules: [{ level: 'Metadata', verbs: [...WRITE_VERBS] }, { level: 'None' }],
};

/** The fields of an audit.k8s.io/v1 Event we use. */
export interface AuditEvent {
  verb: string;
  user: { username: string };
  userAgent?: string;
  objectRef?: { resource?: string; subresource?: string; name?: string; namespace?: string; apiGroup?: string };
  responseStatus?: { code?: number };
  /** When the apiserver received the request and when it completed (RFC 3339, microseconds). */
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
}

/** Parses a JSON-lines audit log; a last line cut by a write in progress is skipped. */
export async function readAuditLog(file: string): Promise<AuditEvent[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return ''; // nothing audited yet
    throw err;
  });
  const events: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      events.push(JSON.parse(line) as AuditEvent);
    } catch {
      // a partial line at the end: the next read has it whole
    }
  }
  return events;
}

/** What an event wrote: `resource` or `resource/subresource`. */
export const auditTarget = (e: AuditEvent): string => [e.objectRef?.resource ?? '?', e.objectRef?.subresource].filter(Boolean).join('/');

/** Write counts by who (username) and what (resource[/subresource]) of the events `filter` keeps. */
export function countWrites(events: readonly AuditEvent[], filter: (e: AuditEvent) => boolean = () => true): Map<string, Map<string, number>> {
  const counts = new Map<string, Map<string, number>>();
  for (const e of events) {
    if (!(WRITE_VERBS as readonly string[]).includes(e.verb) || !filter(e)) continue;
    const byWhat = counts.get(e.user.username) ?? new Map<string, number>();
    const what = auditTarget(e);
    byWhat.set(what, (byWhat.get(what) ?? 0) + 1);
    counts.set(e.user.username, byWhat);
  }
  return counts;
}
