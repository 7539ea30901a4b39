// Mainline Linux hands the attempt key back in a memfd of the attempt's LUO session: present = this boot is the live
// update, absent = it was not (ColdRebooted), whatever else the new boot looks like.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { NodeActions } from '../../../src/agent/actions';
import { JournalStore, type Journal } from '../../../src/agent/journal';
import type { AttemptKey, Host, LuoHandover } from '../../../src/host/types';
import { silentLogger } from '../../../src/kube/log';

const journal: Journal = {
  version: 1,
  planUid: 'plan-uid',
  planName: 'plan',
  attempt: 3,
  phase: 'Executing',
  holder: 'agent-1',
  target: { release: '7.2.13', image: '/boot/vmlinuz', sha256: 'a'.repeat(64), cmdline: { append: [], remove: [], reuse: true } },
  preserve: [],
  closure: [],
  before: { bootId: 'boot-1', kernelRelease: '7.2.13', busMaster: {} },
  kexecIssuedAt: '2026-12-01T01:00:00.000Z',
  timings: {},
  updatedAt: '2026-12-01T01:00:00.000Z',
};

/** Just what verify() reads of a host with no devices in the closure: inventory and the LUO handover. */
function hostHandingOver(handover: LuoHandover): Host {
  return {
    inventory: async () => ({ devices: [], errors: [] }),
    luo: { retrieve: async () => handover },
  } as unknown as Host;
}

describe('agent verify: the attempt key memfd decides whether the boot was the live update', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  const verify = async (handover: LuoHandover) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'verify-key-'));
    dirs.push(dir);
    const actions = new NodeActions(hostHandingOver(handover), new JournalStore(dir), 'node-a', 'agent-2', silentLogger);
    return actions.verify(journal, { bootId: 'boot-2', kernelRelease: '7.2.13' }, Date.now());
  };
  const key: AttemptKey = { planUid: 'plan-uid', node: 'node-a', attempt: 3 };

  it('Verified when the key of this attempt came back', async () => {
    const result = await verify({ sessions: ['luo-op:plan-uid:3'], devices: [], attemptKeys: [key] });
    assert.equal(result.phase, 'Verified', JSON.stringify(result.lastError));
  });

  for (const [what, attemptKeys] of [
    ['no key came back', []],
    ['only another attempt\'s key came back', [{ ...key, attempt: 2 }]],
  ] as const) {
    it(`ColdRebooted when ${what}, even with a session handed over`, async () => {
      const result = await verify({ sessions: ['luo-op:plan-uid:3'], devices: [], attemptKeys: [...attemptKeys] });
      assert.equal(result.phase, 'Failed');
      assert.equal(result.lastError?.reason, 'ColdRebooted');
      assert.match(result.lastError?.message ?? '', /attempt key .* did not come back/);
    });
  }

  it('without attempt keys (legacy, simulated hosts) the sessions decide, as before', async () => {
    assert.equal((await verify({ sessions: ['legacy'], devices: [] })).phase, 'Verified');
    assert.equal((await verify({ sessions: [], devices: [] })).lastError?.reason, 'NoHandover');
  });
});
