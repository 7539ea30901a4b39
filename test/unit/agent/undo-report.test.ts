// Undoing an attempt (LUO cancel, kexec unload) must say what it could not undo: a kernel that stays staged after a
// cancel would be booted by the next `kexec -e` or `systemctl kexec`, so it reaches lastError, not only the log.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { NodeActions } from '../../../src/agent/actions';
import { JournalStore, type Journal } from '../../../src/agent/journal';
import { KexecError } from '../../../src/host/linux/kexec';
import type { Host } from '../../../src/host/types';
import { silentLogger } from '../../../src/kube/log';

const prepared: Journal = {
  version: 1,
  planUid: 'plan-uid',
  planName: 'plan',
  attempt: 1,
  phase: 'Prepared',
  holder: 'agent-1',
  target: { release: '7.2.13', image: '/boot/vmlinuz', sha256: 'a'.repeat(64), cmdline: { append: [], remove: [], reuse: true } },
  preserve: [],
  closure: [],
  before: { bootId: 'boot-1', kernelRelease: '7.2.12', busMaster: {} },
  timings: {},
  updatedAt: '2026-12-01T01:00:00.000Z',
};

const stillLoaded = '/sys/kernel/kexec_loaded is still 1: the cancelled kernel stays staged';

/** A host whose LUO cancels fine but whose kexec unload leaves the kernel staged; its reboot(KEXEC) is refused. */
function hostKeepingKernel(): Host {
  return {
    readBusMaster: async () => true,
    luo: { api: async () => 'mainline', cancel: async () => undefined, checkHeld: async () => ({ held: true }) },
    kexec: {
      unload: async () => {
        throw new KexecError(stillLoaded, 'KexecStillLoaded');
      },
      execute: async () => {
        throw new KexecError('kexec -e -x failed (exit 1): kexec failed: Device or resource busy', 'KexecFailed');
      },
    },
  } as unknown as Host;
}

describe('agent undo reports what stays behind', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const actions = async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'undo-'));
    dirs.push(dir);
    return new NodeActions(hostKeepingKernel(), new JournalStore(dir), 'node-a', 'agent-1', silentLogger);
  };

  it('a cancel whose kexec unload leaves the kernel staged ends Cancelled with lastError KexecStillLoaded', async () => {
    const cancelled = await (await actions()).cancel(prepared);
    assert.equal(cancelled.phase, 'Cancelled');
    assert.deepEqual(cancelled.lastError, { reason: 'KexecStillLoaded', message: `kexec unload: ${stillLoaded}` });
  });

  it('a refused kexec names the kernel left staged in its KexecRefused message', async () => {
    const { journal } = await (await actions()).execute(prepared, performance.now(), async () => undefined);
    assert.equal(journal.lastError?.reason, 'KexecRefused');
    assert.match(journal.lastError?.message ?? '', /Device or resource busy.*; kexec unload: .*stays staged/);
  });
});
