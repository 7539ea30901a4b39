// The harness itself: it stops everything it starts, and a process that dies early fails fast with its last words.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalControlPlane } from '../../src/envtest/control-plane';
import { ControlPlaneError } from '../../src/envtest/endpoint';
import { isAlive } from '../../src/util/process-alive';

describe('control-plane harness', () => {
  let fakeBin: string;
  const realBin = process.env.LIVEUPDATE_TEST_BIN_DIR ?? '';
  const savedAssets = process.env.KUBEBUILDER_ASSETS;

  before(async () => {
    fakeBin = await mkdtemp(path.join(os.tmpdir(), 'liveupdate-fake-bin-'));
  });
  after(async () => {
    if (savedAssets === undefined) delete process.env.KUBEBUILDER_ASSETS;
    else process.env.KUBEBUILDER_ASSETS = savedAssets;
    await rm(fakeBin, { recursive: true, force: true });
  });

  it('starts a second, independent control plane and leaves no process behind on stop', async () => {
    const plane = await LocalControlPlane.start();
    const pids = plane.pids;
    assert.equal(pids.length, 2);
    assert.ok(pids.every(isAlive));
    await plane.stop();
    assert.ok(!pids.some(isAlive), `still running: ${pids.filter(isAlive).join(', ')}`);
  });

  it('fails fast with the last log lines when kube-apiserver crashes', async () => {
    await symlink(path.join(realBin, 'etcd'), path.join(fakeBin, 'etcd'));
    const apiserver = path.join(fakeBin, 'kube-apiserver');
    await writeFile(apiserver, '#!/bin/sh\necho "E1123 failed to listen on 127.0.0.1: bind: address already in use" >&2\nexit 1\n');
    await chmod(apiserver, 0o755);
    process.env.KUBEBUILDER_ASSETS = fakeBin;
    const started = Date.now();
    await assert.rejects(
      LocalControlPlane.start({ startTimeoutMs: 30_000 }),
      (err: unknown) => err instanceof ControlPlaneError && /kube-apiserver exited \(code 1/.test(err.message) && err.message.includes('address already in use'),
    );
    assert.ok(Date.now() - started < 15_000, 'did not fail fast');
  });
});
