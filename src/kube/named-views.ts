// One informer shared by many consumers that each follow a single object (thousands of simulated agents in one
// process): events are routed by object key, so a consumer sees only its object and nobody filters every event.
import type { EventHandler, Informer } from './informer';
import { objectKey, type Resource } from './resource-kind';

/** The part of an informer a single-object consumer uses (an Informer is one). */
export interface ObjectSource<T> {
  get(name: string, namespace?: string): T | undefined;
  waitForSync(signal?: AbortSignal): Promise<boolean>;
  addHandler(handler: EventHandler<T>): void;
}

export interface NamedView<T> extends ObjectSource<T> {
  /** Drops the handlers this view added (its consumer is gone). */
  close(): void;
}

export class NamedViews<T extends Resource> {
  private readonly handlers = new Map<string, Set<EventHandler<T>>>();

  constructor(private readonly informer: Informer<T>) {
    const route = (object: T): Iterable<EventHandler<T>> => this.handlers.get(objectKey(object)) ?? [];
    informer.addHandler({
      add: (o) => {
        for (const h of route(o)) h.add?.(o);
      },
      update: (old, o) => {
        for (const h of route(o)) h.update?.(old, o);
      },
      delete: (o) => {
        for (const h of route(o)) h.delete?.(o);
      },
    });
  }

  /** A view of the object named `key` (namespace/name for namespaced kinds). */
  view(key: string): NamedView<T> {
    const mine: EventHandler<T>[] = [];
    return {
      get: (name, namespace) => this.informer.get(name, namespace),
      waitForSync: (signal) => this.informer.waitForSync(signal),
      addHandler: (handler) => {
        mine.push(handler);
        const set = this.handlers.get(key) ?? new Set();
        set.add(handler);
        this.handlers.set(key, set);
      },
      close: () => {
        const set = this.handlers.get(key);
        for (const h of mine) set?.delete(h);
        if (set?.size === 0) this.handlers.delete(key);
      },
    };
  }
}
