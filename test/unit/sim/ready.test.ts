import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { processExit } from '../../../src/sim/fleet';
import { nextLife, readyState, readyTransition, restartPolicy, type LifeEvent, type NodeLife, type ReadyCondition } from '../../../src/sim/ready';

const ready = (bootId: string): LifeEvent => ({ type: 'ready', bootId });
const exit = (e: Parameters<typeof restartPolicy>[0]): LifeEvent => ({ type: 'exit', exit: e });

/** The Ready status/reason after each event, from a node that is starting. */
function statuses(events: LifeEvent[]): string[] {
  let life: NodeLife = { phase: 'starting' };
  return events.map((e) => {
    life = nextLife(life, e);
    const s = readyState(life);
    return `${s.status}/${s.reason}`;
  });
}

describe('simulated kubelet: Ready', () => {
  it('False until the first ready line, True while up, False KernelRebooting from the kexec exit to the next ready line', () => {
    assert.deepEqual(readyState({ phase: 'starting' }).status, 'False');
    assert.deepEqual(statuses([ready('b1'), exit({ kind: 'rebooted' }), ready('b2')]), ['True/KubeletReady', 'False/KernelRebooting', 'True/KubeletReady']);
  });

  it('a crashed or failed agent leaves Ready as it was: the machine is up, only its agent restarts', () => {
    assert.deepEqual(statuses([ready('b1'), exit({ kind: 'crashed', phase: 'prepare' }), exit({ kind: 'failed', detail: 'exit 1' }), ready('b1')]), [
      'True/KubeletReady',
      'True/KubeletReady',
      'True/KubeletReady',
      'True/KubeletReady',
    ]);
  });

  it('a node down for good is Unknown and stays so whatever comes after', () => {
    assert.deepEqual(statuses([ready('b1'), exit({ kind: 'rebooted' }), exit({ kind: 'node-down', reason: 'panic-on-boot' }), ready('b3')]), [
      'True/KubeletReady',
      'False/KernelRebooting',
      'Unknown/NodeStatusUnknown',
      'Unknown/NodeStatusUnknown',
    ]);
    assert.match(readyState({ phase: 'down', reason: 'panic-on-boot' }).message, /panic-on-boot/);
  });

  it('writes only on change; lastTransitionTime moves only when the status flips', () => {
    const t0 = new Date('2026-01-01T00:00:00.123Z');
    const t1 = new Date('2026-01-01T00:01:00Z');
    const up = readyTransition(undefined, readyState({ phase: 'up', bootId: 'b' }), t0)!;
    assert.deepEqual(up, {
      type: 'Ready',
      status: 'True',
      reason: 'KubeletReady',
      message: 'kubelet is posting ready status',
      lastHeartbeatTime: '2026-01-01T00:00:00Z',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    });
    assert.equal(readyTransition(up, readyState({ phase: 'up', bootId: 'other' }), t1), undefined, 'same status, reason and message: no write');
    const starting: ReadyCondition = readyTransition(undefined, readyState({ phase: 'starting' }), t0)!;
    const rebooting = readyTransition(starting, readyState({ phase: 'rebooting' }), t1)!;
    assert.equal(rebooting.reason, 'KernelRebooting');
    assert.equal(rebooting.lastTransitionTime, '2026-01-01T00:00:00Z', 'False -> False keeps the transition time');
    assert.equal(rebooting.lastHeartbeatTime, '2026-01-01T00:01:00Z');
    assert.equal(readyTransition(rebooting, readyState({ phase: 'up', bootId: 'b2' }), t1)!.lastTransitionTime, '2026-01-01T00:01:00Z');
  });
});

describe('agent supervision', () => {
  it('restarts after the boot time on a kexec, at once on a first crash, with backoff on failures, never when down or stopped', () => {
    assert.equal(restartPolicy({ kind: 'rebooted' }, 0), 'after-boot');
    assert.equal(restartPolicy({ kind: 'crashed', phase: 'load' }, 1), 'now');
    assert.equal(restartPolicy({ kind: 'crashed', phase: 'load' }, 2), 'backoff', 'a crash loop before any ready line backs off');
    assert.equal(restartPolicy({ kind: 'failed', detail: 'exit 1' }, 1), 'backoff');
    assert.equal(restartPolicy({ kind: 'node-down', reason: 'never-returns' }, 0), 'never');
    assert.equal(restartPolicy({ kind: 'stopped' }, 0), 'never');
  });

  it('reads the agent process exit as the contract says', () => {
    assert.deepEqual(processExit(0, null, false, ''), { kind: 'rebooted' });
    assert.deepEqual(processExit(3, null, false, 'node down: panic-on-boot'), { kind: 'node-down', reason: 'node down: panic-on-boot' });
    assert.deepEqual(processExit(null, 'SIGKILL', false, ''), { kind: 'crashed', phase: 'killed by SIGKILL' });
    assert.deepEqual(processExit(1, null, false, 'boom'), { kind: 'failed', detail: 'exit status 1: boom' });
    assert.deepEqual(processExit(null, 'SIGKILL', true, ''), { kind: 'stopped' }, 'anything after the fleet asked it to stop');
  });
});
