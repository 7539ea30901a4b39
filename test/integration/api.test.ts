// The apiserver itself enforces the API: examples apply with defaults, bad plans are rejected naming the field,
// transition rules hold, and spec / status are only writable through their own endpoints.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { ApiException, type KubeConfig } from '@kubernetes/client-node';
import fc from 'fast-check';
import { parsePlan } from '../../src/api/parse';
import { nodeResource, planResource, type ClusterResource } from '../../src/kube/cluster-resource';
import type { LiveUpdateNode } from '../../src/api/node';
import type { LiveUpdatePlan } from '../../src/api/plan';
import { adminKubeConfig, uniqueName } from '../support/kube';
import { validPlanSpec } from '../support/plan-arbitrary';
import { MALFORMED_PLANS, malformedPlan, validPlan } from '../support/plans';
import { agentStatus, makeNode } from '../support/fleet-arbitrary';
import { planRollout } from '../../src/operator/planner';
import { writeStatusIfChanged } from '../../src/kube/status-writer';

const run = promisify(execFile);
const examples = path.resolve(__dirname, '../../manifests/examples');

function kubectl(...args: string[]) {
  const bin = path.join(process.env.LIVEUPDATE_TEST_BIN_DIR ?? '', 'kubectl');
  return run(bin, args, { env: { ...process.env, KUBECONFIG: process.env.LIVEUPDATE_TEST_KUBECONFIG } });
}

/** The apiserver's rejection message, or a failure if the request succeeded or failed otherwise. */
async function rejection(request: Promise<unknown>): Promise<string> {
  try {
    await request;
  } catch (err) {
    if (err instanceof ApiException && err.code === 422) return (JSON.parse(String(err.body)) as { message: string }).message;
    throw err;
  }
  assert.fail('the apiserver accepted it');
}

describe('LiveUpdatePlan API on the real apiserver', () => {
  let kc: KubeConfig;
  let plans: ClusterResource<LiveUpdatePlan>;
  let nodes: ClusterResource<LiveUpdateNode>;

  before(() => {
    kc = adminKubeConfig();
    plans = planResource(kc);
    nodes = nodeResource(kc);
  });

  describe('examples', () => {
    before(async () => {
      await kubectl('apply', '-f', examples);
    });
    after(async () => {
      await kubectl('delete', '-f', examples, '--wait=false');
    });

    it('apply with kubectl and come back with defaults filled in', async () => {
      const preview = await plans.get('preview-6.19.4-lu2');
      assert.equal(preview.spec.strategy.mode, 'Preview');
      assert.deepEqual(preview.spec.timeouts, { prepare: '10m', nodeReturn: '15m', verify: '5m', finish: '5m' });
      assert.equal(preview.spec.devices.requirePreservation, true);
      assert.deepEqual(preview.spec.target.kernel.cmdline, { append: [], remove: [], reuse: true });
      const gpu = await plans.get('gpu-fleet-6.19.4-lu2');
      assert.equal(gpu.spec.timeouts.prepare, '5m'); // given
      assert.equal(gpu.spec.timeouts.verify, '5m'); // defaulted beside it
      assert.equal(gpu.spec.strategy.windows[0]?.timeZone, 'Europe/Paris');
    });

    it('resolve their printer columns in kubectl get -o wide', async () => {
      await plans.patchStatus('gpu-fleet-6.19.4-lu2', {
        status: { phase: 'Progressing', progress: '3/40', currentStep: 1, summary: { selected: 40, eligible: 40, pending: 35, inFlight: 2, succeeded: 3, failed: 0, cancelled: 0, skipped: 0 } },
      });
      const { stdout } = await kubectl('get', 'liveupdateplans', '-o', 'wide');
      const [header, ...rows] = stdout.trim().split('\n');
      assert.match(header!, /^NAME\s+PHASE\s+DONE\s+FAILED\s+IN-FLIGHT\s+KERNEL\s+MODE\s+STEP\s+AGE$/);
      const gpu = rows.find((r) => r.startsWith('gpu-fleet-6.19.4-lu2'));
      assert.match(gpu ?? '', /^gpu-fleet-6\.19\.4-lu2\s+Progressing\s+3\/40\s+0\s+2\s+6\.19\.4-lu2\s+Execute\s+1\s+\S+$/);
      const { stdout: short } = await kubectl('get', 'lup');
      assert.match(short, /preview-6\.19\.4-lu2/);
    });
  });

  it('documents fields for kubectl explain', async () => {
    const { stdout } = await kubectl('explain', 'liveupdateplan.spec.strategy.maxUnavailable');
    assert.match(stdout.replace(/\s+/g, " "), /counting nodes already NotReady or cordoned by anyone/);
  });

  describe(`rejects ${MALFORMED_PLANS.length} malformed plans naming the field`, () => {
    for (const c of MALFORMED_PLANS) {
      it(`${c.what} → ${c.field}`, async () => {
        const message = await rejection(plans.create(malformedPlan(uniqueName('bad'), c)));
        assert.ok(message.includes(c.field), `message does not name ${c.field}: ${message}`);
      });
    }
  });

  it('keeps spec.target and spec.strategy.mode immutable once the plan has started', async () => {
    const name = uniqueName('started');
    await plans.create(validPlan(name));
    await plans.patch(name, { spec: { target: { kernel: { release: '6.19.4-lu3' } }, strategy: { mode: 'Preview' } } }); // not started: allowed
    await plans.patch(name, { spec: { strategy: { mode: 'Execute' } } });
    await plans.patchStatus(name, { status: { startedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), phase: 'Progressing' } });
    const message = await rejection(plans.patch(name, { spec: { target: { kernel: { release: '6.19.5' } } } }));
    assert.match(message, /spec\.target.*immutable once the plan has started/);
    assert.match(await rejection(plans.patch(name, { spec: { strategy: { mode: 'Preview' } } })), /spec\.strategy\.mode.*cannot change once the plan has started/);
    await plans.patch(name, { spec: { strategy: { paused: true } } }); // the rest of spec stays editable
    await plans.delete(name);
  });

  it('stores the Preview status the planner computes for 5 000 nodes with the longest legal names (issue 18 item 16)', async () => {
    const name = uniqueName('preview5k');
    const body = validPlan(name);
    const created = await plans.create({ ...body, spec: { ...(body.spec as object), strategy: { mode: 'Preview', steps: [{ nodes: 1 }, { nodes: '50%' }] } } });
    // 253-character names (the longest a Node may have), a third skipped: the pure planner's status, written as the operator writes it.
    const nodes = Array.from({ length: 5000 }, (_, i) => {
      const node = `${String(i).padStart(6, '0')}-${'n'.repeat(246)}`;
      return i % 3 === 0 ? makeNode(node, { record: { status: agentStatus({ kernelRelease: '6.19.4-lu2' }) } }) : makeNode(node);
    });
    const status = planRollout({ plan: created, nodes, now: new Date(), deleting: false }).status;
    assert.equal(status.phase, 'Previewed');
    assert.ok(await writeStatusIfChanged(plans, created, status));
    const stored = (await plans.get(name)).status;
    assert.equal(stored?.preview?.eligible, 3333);
    assert.equal(stored?.preview?.selected, 5000);
    assert.deepEqual(stored?.preview?.batches.map((b) => b.size), [1, 1666, 1666]);
    assert.equal(stored?.summary?.eligible, 3333);
    await plans.delete(name);
  });

  it('refuses to unset abort once set', async () => {
    const name = uniqueName('abort');
    await plans.create(validPlan(name));
    await plans.patch(name, { spec: { abort: true } });
    const message = await rejection(plans.patch(name, { spec: { abort: false } }));
    assert.match(message, /spec\.abort.*cannot be unset/);
    await plans.delete(name);
  });

  it('writes status only through /status and spec only through the main resource', async () => {
    const name = uniqueName('subres');
    await plans.create(validPlan(name));
    const viaMain = await plans.patch(name, { status: { phase: 'Completed' }, spec: { strategy: { paused: true } } });
    assert.equal(viaMain.status?.phase, undefined);
    assert.equal(viaMain.spec.strategy.paused, true);
    const viaStatus = await plans.patchStatus(name, { status: { phase: 'Paused' }, spec: { strategy: { paused: false } } });
    assert.equal(viaStatus.status?.phase, 'Paused');
    assert.equal(viaStatus.spec.strategy.paused, true);
    await plans.delete(name);
  });

  it('validates LiveUpdateNode invariants and serves its columns', async () => {
    const name = uniqueName('node');
    const message = await rejection(nodes.create({ apiVersion: 'liveupdate.dev/v1alpha1', kind: 'LiveUpdateNode', metadata: { name }, spec: { action: 'Execute' } }));
    assert.match(message, /spec\.planRef/);
    assert.match(message, /spec\.target/);
    const badBdf = await rejection(nodes.create({ apiVersion: 'liveupdate.dev/v1alpha1', kind: 'LiveUpdateNode', metadata: { name }, spec: { preserve: [{ bdf: '0000:5:00.1' }] } }));
    assert.match(badBdf, /spec\.preserve\[0\]\.bdf/);
    await nodes.create({ apiVersion: 'liveupdate.dev/v1alpha1', kind: 'LiveUpdateNode', metadata: { name }, spec: { planRef: { name: 'p', uid: 'u' }, preserve: [{ bdf: '0000:05:00.1' }] } });
    await nodes.patchStatus(name, { status: { phase: 'Prepared', kernelRelease: '6.19.3-lu1', preservedDevices: 1 } });
    const { stdout } = await kubectl('get', 'lun', name);
    assert.match(stdout, new RegExp(`^NAME\\s+PLAN\\s+PHASE\\s+KERNEL\\s+DEVICES\\s+AGE\\n${name}\\s+p\\s+Prepared\\s+6\\.19\\.3-lu1\\s+1\\s+\\S+`));
    await nodes.delete(name);
  });
});

describe('zod and the apiserver agree on valid plans', () => {
  it('accepts every random plan zod accepts, and fills in the same defaults', async () => {
    const plans = planResource(adminKubeConfig());
    await fc.assert(
      fc.asyncProperty(validPlanSpec, async (spec) => {
        const name = uniqueName('random');
        const body = { apiVersion: 'liveupdate.dev/v1alpha1', kind: 'LiveUpdatePlan', metadata: { name }, spec };
        const expected = parsePlan(body).spec; // zod's defaults
        const stored = await plans.create(body); // the apiserver's defaults
        await plans.delete(name);
        assert.deepEqual(stored.spec, expected);
      }),
      { numRuns: 40 },
    );
  });
});
