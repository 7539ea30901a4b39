// Write helpers on the real apiserver: optimistic concurrency, status written only when changed, server-side apply,
// and the Node patch used for cordoning.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import fc from 'fast-check';
import type { LiveUpdatePlan } from '../../src/api/plan';
import { planResource, type ClusterResource } from '../../src/kube/cluster-resource';
import { patchNode } from '../../src/kube/core-writes';
import { isConflict, retryOnConflict } from '../../src/kube/retry';
import { mergePatchBetween, semanticEqual, writeStatusIfChanged } from '../../src/kube/status-writer';
import { adminKubeConfig, uniqueName } from '../support/kube';
import { validPlan } from '../support/plans';

const FIELD_MANAGER = 'liveupdate-test';

async function conflict(request: Promise<unknown>): Promise<void> {
  await assert.rejects(request, (err) => err instanceof ApiException && isConflict(err));
}

describe('write helpers on the real apiserver', () => {
  let kc: KubeConfig;
  let plans: ClusterResource<LiveUpdatePlan>;
  const created: string[] = [];
  const nodes: string[] = [];

  async function newPlan(): Promise<LiveUpdatePlan> {
    const name = uniqueName('writes');
    created.push(name);
    return plans.create(validPlan(name));
  }

  before(() => {
    kc = adminKubeConfig();
    plans = planResource(kc);
  });
  after(async () => {
    await Promise.all(created.map((name) => plans.delete(name).catch(() => undefined)));
    const core = kc.makeApiClient(CoreV1Api);
    await Promise.all(nodes.map((name) => core.deleteNode({ name })));
  });

  it('patch and patchStatus with a stale resourceVersion get 409; with the current one they succeed', async () => {
    const plan = await newPlan();
    const name = plan.metadata.name!;
    const stale = plan.metadata.resourceVersion!;
    const moved = await plans.patch(name, { spec: { strategy: { paused: true } } });
    await conflict(plans.patch(name, { spec: { strategy: { paused: false } } }, { resourceVersion: stale }));
    await conflict(plans.patchStatus(name, { status: { phase: 'Paused' } }, { resourceVersion: stale }));
    assert.equal((await plans.get(name)).spec.strategy.paused, true);
    const resumed = await plans.patch(name, { spec: { strategy: { paused: false } } }, { resourceVersion: moved.metadata.resourceVersion });
    assert.equal(resumed.spec.strategy.paused, false);
    const status = await plans.patchStatus(name, { status: { phase: 'Pending' } }, { resourceVersion: resumed.metadata.resourceVersion });
    assert.equal(status.status?.phase, 'Pending');
  });

  it('retryOnConflict re-reads and wins against a concurrent writer', async () => {
    const name = (await newPlan()).metadata.name!;
    let tries = 0;
    const result = await retryOnConflict(async () => {
      const fresh = await plans.get(name);
      if (++tries === 1) await plans.patch(name, { metadata: { labels: { other: 'writer' } } }); // someone else writes first
      return plans.patch(name, { metadata: { labels: { mine: 'yes' } } }, { resourceVersion: fresh.metadata.resourceVersion });
    });
    assert.equal(tries, 2);
    assert.deepEqual(result.metadata.labels, { other: 'writer', mine: 'yes' });
  });

  it('writes status only when it changed', async () => {
    const plan = await newPlan();
    const name = plan.metadata.name!;
    const first = await plans.patchStatus(name, { status: { phase: 'Progressing', progress: '0/4', currentNodes: ['a', 'b'] } });
    const version = first.metadata.resourceVersion;

    // Same content, other key order, an explicit undefined: nothing to write.
    assert.equal(await writeStatusIfChanged(plans, first, { currentNodes: ['a', 'b'], progress: '0/4', phase: 'Progressing', startedAt: undefined }), false);
    assert.equal((await plans.get(name)).metadata.resourceVersion, version);

    // A changed field and a dropped one: written, and the dropped one is gone on the server.
    assert.equal(await writeStatusIfChanged(plans, first, { phase: 'Progressing', progress: '1/4' }), true);
    const second = await plans.get(name);
    assert.notEqual(second.metadata.resourceVersion, version);
    assert.deepEqual(second.status, { phase: 'Progressing', progress: '1/4' });
    assert.equal(await writeStatusIfChanged(plans, second, { phase: 'Progressing', progress: '1/4' }), false);
    assert.equal((await plans.get(name)).metadata.resourceVersion, second.metadata.resourceVersion);
  });

  it('server-side apply sets the fields of its field manager, creates when missing and honours force', async () => {
    const name = uniqueName('apply');
    created.push(name);
    const applied = await plans.apply(validPlan(name) as { metadata: { name: string } }, { fieldManager: FIELD_MANAGER });
    assert.equal(applied.spec.target.kernel.release, '6.19.4-lu2');
    const managers = (applied.metadata as { managedFields?: { manager: string; operation: string }[] }).managedFields ?? [];
    assert.ok(managers.some((m) => m.manager === FIELD_MANAGER && m.operation === 'Apply'), JSON.stringify(managers));

    const partial = { apiVersion: 'liveupdate.dev/v1alpha1', kind: 'LiveUpdatePlan', metadata: { name, labels: { team: 'infra' } } };
    const labelled = await plans.apply(partial, { fieldManager: 'someone-else' });
    assert.equal(labelled.metadata.labels?.team, 'infra');
    assert.equal(labelled.spec.target.kernel.release, '6.19.4-lu2'); // the other manager's fields stay

    // The full intent of FIELD_MANAGER: an apply that left out its spec would remove it.
    const takeover = { ...validPlan(name), metadata: { name, labels: { team: 'ops' } } };
    await conflict(plans.apply(takeover, { fieldManager: FIELD_MANAGER }));
    assert.equal((await plans.apply(takeover, { fieldManager: FIELD_MANAGER, force: true })).metadata.labels?.team, 'ops');
  });

  it('patchNode sets the cordon mark and spec.unschedulable, and honours a resourceVersion precondition', async () => {
    const name = uniqueName('node');
    const core = kc.makeApiClient(CoreV1Api);
    const node = await core.createNode({ body: { metadata: { name } } });
    nodes.push(name);
    const mark = 'liveupdate.dev/cordoned-by';
    const patched = await patchNode(kc, name, { metadata: { annotations: { [mark]: 'plan-x' } }, spec: { unschedulable: true } });
    assert.equal(patched.metadata?.annotations?.[mark], 'plan-x');
    assert.equal(patched.spec?.unschedulable, true);
    const read = await core.readNode({ name });
    assert.equal(read.spec?.unschedulable, true);
    await conflict(patchNode(kc, name, { spec: { unschedulable: false } }, { resourceVersion: node.metadata?.resourceVersion }));
    const uncordoned = await patchNode(kc, name, { metadata: { annotations: { [mark]: null } }, spec: { unschedulable: false } }, { resourceVersion: read.metadata?.resourceVersion });
    assert.equal(uncordoned.spec?.unschedulable ?? false, false); // omitempty: false is not stored
    assert.equal(uncordoned.metadata?.annotations?.[mark], undefined);
  });
});

describe('status diff', () => {
  const json = fc.jsonValue({ maxDepth: 3 });
  /** RFC 7386 applied to a value: what the apiserver does with a merge patch. */
  function applyMergePatch(target: unknown, patch: unknown): unknown {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
    // Null prototype and own reads: `__proto__` is an ordinary JSON key, as it is to the apiserver.
    const result = Object.assign(Object.create(null) as Record<string, unknown>, typeof target === 'object' && target !== null && !Array.isArray(target) ? target : {});
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete result[key];
      else result[key] = applyMergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value);
    }
    return result;
  }

  it('yields a merge patch that turns the old status into the new one, and none exactly when they are equal', () => {
    const status = fc.dictionary(fc.oneof(fc.string({ maxLength: 4 }), fc.constant('__proto__')), json, { maxKeys: 5 });
    fc.assert(
      fc.property(status, status, (from, to) => {
        const patch = mergePatchBetween(from, to);
        assert.equal(patch === undefined, semanticEqual(from, to));
        if (patch !== undefined) assert.ok(semanticEqual(applyMergePatch(from, patch), to), JSON.stringify({ from, to, patch }));
      }),
      { numRuns: 1000 },
    );
  });

  it('treats `__proto__` as an ordinary key (the counterexample CI found)', () => {
    const from: unknown = JSON.parse('{}');
    const to: unknown = JSON.parse('{"":{"__proto__":0},"__proto__":{}}');
    const patch = mergePatchBetween(from, to);
    assert.equal(JSON.stringify(patch), '{"":{"__proto__":0},"__proto__":{}}');
    assert.equal(semanticEqual(from, to), false);
  });
});
