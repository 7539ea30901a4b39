// The control plane's audit option on a real kube-apiserver: writes are logged with who and what, reads are not, and
// the policy outlives an apiserver restart.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { countWrites, type AuditEvent } from '../../src/envtest/audit';
import { LocalControlPlane } from '../../src/envtest/control-plane';
import { nodeResource } from '../../src/kube/cluster-resource';
import { uniqueName } from '../support/kube';
import { waitFor } from '../support/wait';

describe('audit log (own control plane)', () => {
  let plane: LocalControlPlane;
  let kc: KubeConfig;

  before(async () => {
    plane = await LocalControlPlane.start({ crdDir: path.resolve(__dirname, '../../crds'), audit: true });
    kc = new KubeConfig();
    kc.loadFromString(plane.kubeconfig());
  });
  after(async () => {
    await plane?.stop();
  });

  /** The audited requests on `name`, once there are `count` of them (the log is written as requests complete). */
  const auditedOn = (name: string, count: number): Promise<AuditEvent[]> =>
    waitFor(`${count} audit events on ${name}`, async () => {
      const events = (await plane.auditLog()).filter((e) => e.objectRef?.name === name);
      return events.length >= count ? events : undefined;
    });

  it('logs a create and a status patch with user and resource, and not a GET', async () => {
    const records = nodeResource(kc);
    const name = uniqueName('audited');
    await records.create({ apiVersion: 'liveupdate.dev/v1alpha1', kind: 'LiveUpdateNode', metadata: { name }, spec: {} });
    await records.patchStatus(name, { status: { phase: 'Idle' } });
    await records.get(name);

    const events = await auditedOn(name, 2);
    // Let a late GET event (there must be none) have its chance to land before asserting the exact set.
    await new Promise((r) => setTimeout(r, 300));
    const all = await plane.auditLog();
    assert.deepEqual(
      all.filter((e) => e.objectRef?.name === name).map((e) => [e.verb, e.objectRef?.resource, e.objectRef?.subresource, e.objectRef?.apiGroup, e.responseStatus?.code]),
      [
        ['create', 'liveupdatenodes', undefined, 'liveupdate.dev', 201],
        ['patch', 'liveupdatenodes', 'status', 'liveupdate.dev', 200],
      ],
    );
    assert.ok(events.every((e) => e.user.username === 'envtest-admin'));
    assert.ok(!all.some((e) => ['get', 'list', 'watch'].includes(e.verb)), 'reads are not audited');
    assert.deepEqual(
      countWrites(all, (e) => e.objectRef?.name === name),
      new Map([['envtest-admin', new Map([['liveupdatenodes', 1], ['liveupdatenodes/status', 1]])]]),
    );
  });

  it('keeps auditing after kube-apiserver restarts', async () => {
    const records = nodeResource(kc);
    const name = uniqueName('audited');
    await plane.restartApiserver();
    await records.create({ apiVersion: 'liveupdate.dev/v1alpha1', kind: 'LiveUpdateNode', metadata: { name }, spec: {} });
    const [created] = await auditedOn(name, 1);
    assert.equal(created?.verb, 'create');
  });
});
