// Events on the real apiserver: aggregation into series, MicroTime on the wire, note truncation, best effort.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { planResource } from '../../src/kube/cluster-resource';
import { EventRecorder, truncateNote, type ObjectRef } from '../../src/kube/events';
import { adminKubeConfig, serviceAccountKubeConfig, uniqueName } from '../support/kube';
import { validPlan } from '../support/plans';

interface RawEvent {
  metadata: { name: string; namespace: string };
  eventTime: string;
  series?: { count: number; lastObservedTime: string };
  reportingController: string;
  reportingInstance: string;
  reason: string;
  action: string;
  type: string;
  note: string;
  regarding: { kind: string; name: string; uid?: string };
}

const CONTROLLER = 'liveupdate.dev/operator';

/** The Events one recorder instance wrote, as plain JSON (CustomObjectsApi does not turn times into Dates). */
async function eventsOf(kc: KubeConfig, instance: string): Promise<RawEvent[]> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const list = (await api.listNamespacedCustomObject({ group: 'events.k8s.io', version: 'v1', namespace: 'default', plural: 'events' })) as { items: RawEvent[] };
  return list.items.filter((e) => e.reportingInstance === instance).sort((a, b) => a.eventTime.localeCompare(b.eventTime));
}

/** A clock the test moves by hand. */
function manualClock(start: string) {
  let t = new Date(start).getTime();
  return { now: () => new Date(t), advance: (ms: number) => (t += ms) };
}

describe('EventRecorder on the real apiserver', () => {
  let kc: KubeConfig;
  let regarding: ObjectRef;
  const planName = uniqueName('events');

  before(async () => {
    kc = adminKubeConfig();
    const plan = await planResource(kc).create(validPlan(planName));
    regarding = { apiVersion: plan.apiVersion, kind: plan.kind, name: planName, uid: plan.metadata.uid };
  });
  after(async () => {
    await planResource(kc).delete(planName);
  });

  it('aggregates repeats into one Event with series.count and the first note; another reason is another Event', async () => {
    const instance = uniqueName('operator');
    const clock = manualClock('2026-11-30T22:19:21.123Z');
    const recorder = new EventRecorder({ kc, reportingController: CONTROLLER, reportingInstance: instance, now: clock.now });
    const started = { type: 'Normal', reason: 'StepStarted', action: 'Rollout' } as const;
    // Two before any write, then repeats while a write may be in flight, then one after the create surely finished.
    recorder.event(regarding, { ...started, note: 'step 1/3 started' });
    recorder.event(regarding, { ...started, note: 'step 1/3 started (2)' });
    for (let i = 3; i <= 4; i++) {
      clock.advance(1_000);
      recorder.event(regarding, { ...started, note: `repeat ${i}` });
      await new Promise((resolve) => setImmediate(resolve));
    }
    await recorder.flush();
    clock.advance(1_000);
    recorder.event(regarding, { ...started, note: 'repeat 5' });
    recorder.event(regarding, { type: 'Warning', reason: 'StepFailed', action: 'Rollout', note: 'node gpu-01 failed' });
    await recorder.flush();

    const events = await eventsOf(kc, instance);
    assert.equal(events.length, 2, JSON.stringify(events, null, 1));
    const [series, failed] = events as [RawEvent, RawEvent];
    assert.equal(series.reason, 'StepStarted');
    assert.equal(series.note, 'step 1/3 started');
    assert.equal(series.series?.count, 5);
    assert.equal(series.eventTime, '2026-11-30T22:19:21.123000Z'); // six digits, the first observation
    assert.equal(series.series?.lastObservedTime, '2026-11-30T22:19:24.123000Z');
    assert.equal(series.metadata.namespace, 'default'); // the plan is cluster-scoped
    assert.equal(series.regarding.uid, regarding.uid);
    assert.equal(series.reportingController, CONTROLLER);
    assert.equal(series.action, 'Rollout');
    assert.equal(failed.reason, 'StepFailed');
    assert.equal(failed.type, 'Warning');
    assert.equal(failed.series, undefined);
  });

  it('starts a new Event when a repeat comes after the series window', async () => {
    const instance = uniqueName('operator');
    const clock = manualClock('2026-11-30T10:00:00.000Z');
    const recorder = new EventRecorder({ kc, reportingController: CONTROLLER, reportingInstance: instance, now: clock.now, seriesWindowMs: 60_000 });
    const e = { type: 'Normal', reason: 'Paused', action: 'Rollout', note: 'paused by the user' } as const;
    recorder.event(regarding, e);
    clock.advance(30_000);
    recorder.event(regarding, e);
    clock.advance(61_000);
    recorder.event(regarding, e);
    await recorder.flush();
    const events = await eventsOf(kc, instance);
    assert.deepEqual(
      events.map((x) => [x.eventTime, x.series?.count]),
      [
        ['2026-11-30T10:00:00.000000Z', 2],
        ['2026-11-30T10:01:31.000000Z', undefined],
      ],
    );
  });

  it('cuts a long note to 1024 bytes with " ..." and the apiserver accepts it', async () => {
    const instance = uniqueName('operator');
    const recorder = new EventRecorder({ kc, reportingController: CONTROLLER, reportingInstance: instance });
    recorder.event(regarding, { type: 'Warning', reason: 'VerifyFailed', action: 'Verify', note: 'é'.repeat(800) });
    await recorder.flush();
    const [event] = await eventsOf(kc, instance);
    assert.ok(event, 'no Event was written');
    assert.ok(event.note.endsWith('é ...'));
    assert.ok(Buffer.byteLength(event.note) <= 1024 && Buffer.byteLength(event.note) > 1000);
  });

  it('never throws or rejects when the write is denied, and logs a warning', async () => {
    const denied = await serviceAccountKubeConfig(kc, 'default', uniqueName('no-rbac'));
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const instance = uniqueName('operator');
    const recorder = new EventRecorder({ kc: denied, reportingController: CONTROLLER, reportingInstance: instance, log });
    for (let i = 0; i < 3; i++) recorder.event(regarding, { type: 'Normal', reason: 'StepStarted', action: 'Rollout', note: 'x' });
    await recorder.flush();
    assert.equal((await eventsOf(kc, instance)).length, 0);
    const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string; err: string }).find((l) => l.msg === 'could not write event');
    assert.ok(warning, `no warning logged: ${lines.join('')}`);
    assert.equal(warning.level, 40);
    assert.match(warning.err, /HTTP 403/);
  });
});

describe('EventRecorder input checks', () => {
  it('throws synchronously on a reason or action that is not UpperCamelCase', () => {
    const recorder = new EventRecorder({ kc: adminKubeConfig(), reportingController: CONTROLLER, reportingInstance: 'unit' });
    const ref: ObjectRef = { apiVersion: 'v1', kind: 'Node', name: 'n1' };
    for (const [reason, action] of [['stepStarted', 'Rollout'], ['Step Started', 'Rollout'], ['StepStarted', 'roll-out'], ['S'.repeat(129), 'Rollout']]) {
      assert.throws(() => recorder.event(ref, { type: 'Normal', reason: reason!, action: action!, note: '' }), /must be UpperCamelCase/);
    }
  });

  it('leaves short notes alone and never splits a character', () => {
    assert.equal(truncateNote('x'.repeat(1024)), 'x'.repeat(1024));
    assert.equal(truncateNote('x'.repeat(1025)), 'x'.repeat(1020) + ' ...');
    const cut = truncateNote('€'.repeat(400)); // 3 bytes each
    assert.equal(cut, '€'.repeat(340) + ' ...');
  });
});
