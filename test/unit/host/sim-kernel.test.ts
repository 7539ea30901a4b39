import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freshKernel, SimKernel, SimKernelError } from '../../../src/host/sim/kernel';

const errno = (code: string) => (err: unknown) => err instanceof SimKernelError && err.errno === code;

describe('simulated kernel, legacy LUO', () => {
  it('walks normal -> prepared -> frozen -> updated -> normal and hands the prepared list over', () => {
    const k = new SimKernel(freshKernel('legacy'));
    k.legacyPrepare(['0000:05:00.1', '0000:04:01.0', '0000:05:00.1']);
    assert.equal(k.state.legacy.state, 'prepared');
    assert.deepEqual(k.kexec(), ['0000:05:00.1', '0000:04:01.0'], 'kexec freezes, then hands over each device once');
    assert.deepEqual(k.state.legacy, { state: 'updated', prepared: [], incoming: ['0000:05:00.1', '0000:04:01.0'] });
    assert.deepEqual(k.legacyFinish(), []);
    assert.deepEqual(k.state.legacy, { state: 'normal', prepared: [], incoming: [] });
  });

  it('rejects illegal transitions the way the kernel does', () => {
    const k = new SimKernel(freshKernel('legacy'));
    assert.throws(() => k.legacyFreeze(), errno('EINVAL'), 'freeze needs prepared');
    assert.throws(() => k.legacyFinish(), errno('EINVAL'), 'finish needs updated');
    k.legacyPrepare([]);
    assert.throws(() => k.legacyPrepare([]), errno('EBUSY'), 'prepare twice');
    assert.throws(() => k.legacyFinish(), errno('EINVAL'));
    k.legacyFreeze();
    assert.throws(() => k.legacyPrepare([]), errno('EBUSY'));
    k.kexec();
    assert.throws(() => k.legacyCancel(), errno('EINVAL'), 'no cancel after the point of no return');
    assert.throws(() => k.createSession('x', 'h'), errno('ENOTTY'), 'no session ioctls on a legacy kernel');
  });

  it('cancel never fails before kexec: from prepared, frozen and normal it lands in normal', () => {
    for (const setup of [(k: SimKernel) => k.legacyPrepare(['0000:05:00.1']), (k: SimKernel) => (k.legacyPrepare([]), k.legacyFreeze()), () => undefined]) {
      const k = new SimKernel(freshKernel('legacy'));
      setup(k);
      k.legacyCancel();
      assert.deepEqual(k.state.legacy, { state: 'normal', prepared: [], incoming: [] });
    }
  });

  it('a kexec without prepare carries no LUO data', () => {
    const k = new SimKernel(freshKernel('legacy'));
    assert.deepEqual(k.kexec(), []);
    assert.equal(k.state.legacy.state, 'normal');
  });
});

describe('simulated kernel, mainline LUO sessions', () => {
  it('preserves into sessions, hands them over at kexec, and finish discards what was not retrieved', () => {
    const k = new SimKernel(freshKernel('mainline'));
    k.createSession('a', 'holder-1');
    k.preserve('a', '0000:05:00.1');
    k.preserve('a', '0000:05:00.2');
    k.createSession('b', 'holder-1');
    k.preserve('b', '0000:41:00.0');
    assert.deepEqual(k.kexec().sort(), ['0000:05:00.1', '0000:05:00.2', '0000:41:00.0']);
    assert.deepEqual(k.state.mainline.outgoing, {});
    k.retrieveSession('a', 'h');
    k.retrieveDevice('a', '0000:05:00.1');
    assert.deepEqual(k.finishSession('a'), ['0000:05:00.2']);
    assert.throws(() => k.finishSession('b'), errno('ENOENT'), 'finish needs a retrieved session');
    k.retrieveSession('b', 'h');
    assert.deepEqual(k.finishSession('b'), ['0000:41:00.0']);
    assert.deepEqual(k.state.mainline.incoming, {});
  });

  it('rejects bad names, duplicates, unknown sessions and double preservation', () => {
    const k = new SimKernel(freshKernel('mainline'));
    assert.throws(() => k.createSession('', 'h'), errno('EINVAL'));
    assert.throws(() => k.createSession('x'.repeat(64), 'h'), errno('EINVAL'));
    assert.throws(() => k.createSession('bad/name', 'h'), errno('EINVAL'));
    k.createSession('s', 'h');
    assert.throws(() => k.createSession('s', 'h'), errno('EEXIST'));
    assert.throws(() => k.preserve('nope', '0000:05:00.1'), errno('ENOENT'));
    k.preserve('s', '0000:05:00.1');
    k.createSession('t', 'h');
    assert.throws(() => k.preserve('t', '0000:05:00.1'), errno('EBUSY'));
    assert.throws(() => k.retrieveSession('s', 'h'), errno('ENOENT'), 'outgoing sessions are not retrievable');
    assert.throws(() => k.legacyPrepare([]), errno('ENOTTY'));
  });

  it('closing a session cancels it (idempotently), and a dead holder cancels all of its sessions', () => {
    const k = new SimKernel(freshKernel('mainline'));
    k.createSession('mine', 'agent-1');
    k.createSession('theirs', 'agent-0');
    assert.equal(k.closeSession('mine'), true);
    assert.equal(k.closeSession('mine'), false);
    k.createSession('mine', 'agent-1');
    assert.deepEqual(k.dropSessionsNotHeldBy('agent-1'), { cancelled: ['theirs'], finished: [] });
    assert.deepEqual(Object.keys(k.state.mainline.outgoing), ['mine']);
  });

  it('retrieving twice and restoring unknown or repeated devices fail', () => {
    const k = new SimKernel(freshKernel('mainline'));
    k.createSession('s', 'h');
    k.preserve('s', '0000:05:00.1');
    k.kexec();
    assert.throws(() => k.retrieveDevice('s', '0000:05:00.1'), errno('ENOENT'), 'retrieve the session first');
    k.retrieveSession('s', 'h');
    assert.throws(() => k.retrieveSession('s', 'h'), errno('EBUSY'));
    assert.throws(() => k.retrieveDevice('s', '0000:09:00.0'), errno('ENOENT'));
    k.retrieveDevice('s', '0000:05:00.1');
    assert.throws(() => k.retrieveDevice('s', '0000:05:00.1'), errno('EINVAL'));
  });

  it('loseHandover (cold boot) forgets sessions and the legacy state alike', () => {
    const k = new SimKernel(freshKernel('mainline'));
    k.createSession('s', 'h');
    k.kexec();
    k.loseHandover();
    assert.deepEqual(k.state.mainline, { outgoing: {}, incoming: {} });
  });
});

describe('simulated kernel, a retrieved session and its holder', () => {
  it('a retrieved session dies with the process holding it (an implicit finish); one not yet retrieved waits', () => {
    const k = new SimKernel(freshKernel('mainline'));
    k.createSession('taken', 'old-kernel-agent');
    k.preserve('taken', '0000:05:00.1');
    k.preserve('taken', '0000:05:00.2');
    k.createSession('waiting', 'old-kernel-agent');
    k.kexec();
    k.retrieveSession('taken', 'agent-1');
    k.retrieveDevice('taken', '0000:05:00.1');
    // agent-1 dies; agent-2 opens the device: the kernel closed agent-1's session fd, which finished it.
    assert.deepEqual(k.dropSessionsNotHeldBy('agent-2'), { cancelled: [], finished: [{ name: 'taken', discarded: ['0000:05:00.2'] }] });
    assert.deepEqual(Object.keys(k.state.mainline.incoming), ['waiting'], 'an unretrieved incoming session belongs to no process');
    assert.throws(() => k.retrieveSession('taken', 'agent-2'), errno('ENOENT'), 'gone once its fd closed');
    k.retrieveSession('waiting', 'agent-2');
    assert.deepEqual(k.dropSessionsNotHeldBy('agent-2'), { cancelled: [], finished: [] });
  });
});
