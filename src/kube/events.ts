// Events on events.k8s.io/v1, recorded like client-go's event_broadcaster: best effort (a failed write is logged, never
// thrown into a reconcile), and repeats aggregated client-side into one Event whose `series` counts them.
import { randomBytes } from 'node:crypto';
import { EventsV1Api, PatchStrategy, setHeaderOptions, type EventsV1Event, type KubeConfig } from '@kubernetes/client-node';
import { errorSummary, silentLogger, type Logger } from './log';
import { microTime, v1MicroTime } from './micro-time';
import { isNotFound, withTransientRetry } from './retry';
import { apiClient } from './connections';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string;
  /** Unset for cluster-scoped objects. */
  namespace?: string;
}

export interface EventSpec {
  type: 'Normal' | 'Warning';
  /** Why / the outcome, UpperCamelCase and stable: people write switch statements on it. */
  reason: string;
  /** What the controller did, UpperCamelCase. */
  action: string;
  /** For humans; cut to 1024 bytes. Not part of the aggregation key: a series keeps its first note. */
  note: string;
  related?: ObjectRef;
}

export interface EventRecorderOptions {
  kc: KubeConfig;
  reportingController: string;
  reportingInstance: string;
  /** Where events about cluster-scoped objects go, like client-go. */
  namespace?: string;
  /** A repeat later than this after the previous one starts a new Event. */
  seriesWindowMs?: number;
  log?: Logger;
  now?: () => Date;
}

const CAMEL_CASE = /^[A-Z][A-Za-z0-9]*$/;
const NOTE_LIMIT_BYTES = 1024;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** kube-scheduler's truncateMessage, on UTF-8 bytes (the apiserver's limit) without splitting a character. */
export function truncateNote(note: string): string {
  if (Buffer.byteLength(note) <= NOTE_LIMIT_BYTES) return note;
  const suffix = ' ...';
  let bytes = 0;
  let cut = '';
  for (const ch of note) {
    bytes += Buffer.byteLength(ch);
    if (bytes > NOTE_LIMIT_BYTES - suffix.length) break;
    cut += ch;
  }
  return cut + suffix;
}

interface Series {
  namespace: string;
  regarding: ObjectRef;
  spec: EventSpec;
  first: Date;
  last: Date;
  count: number;
  /** The Event object once created. */
  eventName?: string;
  /** The count the API has; equal to `count` when there is nothing left to write. */
  written: number;
  /** The last write queued for this key: writes run one after another. */
  tail: Promise<void>;
}

export class EventRecorder {
  private readonly api: EventsV1Api;
  private readonly series = new Map<string, Series>();
  private readonly pending = new Set<Promise<void>>();
  private readonly namespace: string;
  private readonly seriesWindowMs: number;
  private readonly log: Logger;
  private readonly now: () => Date;
  private lastSweep = 0;

  constructor(private readonly options: EventRecorderOptions) {
    this.api = apiClient(options.kc, EventsV1Api);
    this.namespace = options.namespace ?? 'default';
    this.seriesWindowMs = options.seriesWindowMs ?? 6 * 60_000;
    this.log = options.log ?? silentLogger;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Records an event; returns at once. Throws only for a reason or action that is not UpperCamelCase (a programming
   * error); a failed write is logged.
   */
  event(regarding: ObjectRef, spec: EventSpec): void {
    for (const [field, value] of [['reason', spec.reason], ['action', spec.action]] as const) {
      if (!CAMEL_CASE.test(value) || value.length > 128) {
        throw new Error(`event ${field} ${JSON.stringify(value)} must be UpperCamelCase (${CAMEL_CASE.source}), at most 128 characters`);
      }
    }
    try {
      this.record(regarding, spec);
    } catch (err) {
      this.log.warn({ err: errorSummary(err), reason: spec.reason }, 'could not record event');
    }
  }

  /** Resolves once every write queued so far (and any queued meanwhile) has finished. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  private record(regarding: ObjectRef, spec: EventSpec): void {
    const now = this.now();
    this.sweep(now);
    const key = JSON.stringify([
      spec.type,
      spec.action,
      spec.reason,
      this.options.reportingController,
      this.options.reportingInstance,
      refKey(regarding),
      spec.related && refKey(spec.related),
    ]);
    const previous = this.series.get(key);
    let series: Series;
    if (previous && now.getTime() - previous.last.getTime() <= this.seriesWindowMs) {
      series = previous;
      series.count++;
      series.last = now;
    } else {
      const namespace = regarding.namespace ?? this.namespace;
      series = {
        namespace,
        regarding: { ...regarding },
        spec: { ...spec, note: truncateNote(spec.note), ...(spec.related ? { related: { ...spec.related } } : {}) },
        first: now,
        last: now,
        count: 1,
        written: 0,
        tail: previous?.tail ?? Promise.resolve(), // still one write at a time for this key
      };
      this.series.set(key, series);
    }
    const write = series.tail.then(() => this.write(series));
    series.tail = write;
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
  }

  /** Drops closed series, at most once per window, so a long-running recorder does not grow without bound. */
  private sweep(now: Date): void {
    if (now.getTime() - this.lastSweep < this.seriesWindowMs) return;
    this.lastSweep = now.getTime();
    for (const [key, s] of this.series) {
      if (now.getTime() - s.last.getTime() > this.seriesWindowMs) this.series.delete(key);
    }
  }

  /** Brings the API up to the series' current count. Never rejects. */
  private async write(series: Series): Promise<void> {
    const { count, last } = series;
    if (series.written === count) return; // an earlier write already carried this repeat
    try {
      if (series.eventName !== undefined) {
        try {
          await this.patchSeries(series, count, last);
          series.written = count;
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
          this.log.debug({ event: series.eventName }, 'event series expired on the server; creating a new Event');
        }
      }
      series.eventName = await this.create(series, count, last);
      series.written = count;
    } catch (err) {
      const { regarding, spec } = series;
      this.log.warn({ err: errorSummary(err), regarding: `${regarding.kind}/${regarding.name}`, reason: spec.reason }, 'could not write event');
    }
  }

  private async create(series: Series, count: number, last: Date): Promise<string> {
    const { namespace, regarding, spec, first } = series;
    const name = `${regarding.name.slice(0, 230)}.${first.getTime().toString(16)}${randomBytes(3).toString('hex')}`;
    const body: EventsV1Event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace },
      eventTime: v1MicroTime(first),
      ...(count > 1 ? { series: { count, lastObservedTime: v1MicroTime(last) } } : {}),
      reportingController: this.options.reportingController,
      reportingInstance: this.options.reportingInstance,
      type: spec.type,
      reason: spec.reason,
      action: spec.action,
      note: spec.note,
      regarding: { ...regarding },
      ...(spec.related ? { related: { ...spec.related } } : {}),
    };
    await withTransientRetry(() => this.api.createNamespacedEvent({ namespace, body }), { retries: 3 });
    return name;
  }

  private async patchSeries(series: Series, count: number, last: Date): Promise<void> {
    const body = { series: { count, lastObservedTime: microTime(last) } };
    const request = { name: series.eventName!, namespace: series.namespace, body };
    await withTransientRetry(() => this.api.patchNamespacedEvent(request, mergePatch), { retries: 3 });
  }
}

const refKey = (ref: ObjectRef) => [ref.apiVersion, ref.kind, ref.namespace ?? '', ref.name, ref.uid ?? ''];
