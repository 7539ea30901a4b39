// --fault flags: parsing into the simulator's format, node resolution, and errors that name the flag.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../../src/cli/usage';
import { checkFaultNode, expectation, faultFile, parseFaultFlag, resolveFaultNode } from '../../../src/demo/faults';
import type { DemoNode } from '../../../src/demo/plan';

const NAMES = ['sim-node-01', 'sim-node-02', 'sim-node-03'];
const usage = (raw: string, pattern: RegExp) =>
  assert.throws(
    () => parseFaultFlag(raw),
    (err: unknown) => err instanceof UsageError && err.message.startsWith(`--fault ${raw}: `) && pattern.test(err.message),
  );

describe('--fault NODE:KIND[:ARG]', () => {
  it('a device argument keeps its colons; defaults come from the simulator schema', () => {
    assert.deepEqual(parseFaultFlag('2:prepare-error:0000:05:00.1').fault, { kind: 'prepare-error', device: '0000:05:00.1', errno: 'EIO' });
    assert.equal(parseFaultFlag('2:prepare-error:0000:05:00.1').node, '2');
    assert.deepEqual(parseFaultFlag('sim-node-03:cold-reboot').fault, { kind: 'cold-reboot' });
    assert.deepEqual(parseFaultFlag('1:bus-master-lost:0000:05:00.1,0000:05:00.2').fault, { kind: 'bus-master-lost', devices: ['0000:05:00.1', '0000:05:00.2'] });
    assert.deepEqual(parseFaultFlag('1:freeze-error:EIO').fault, { kind: 'freeze-error', errno: 'EIO' });
    assert.deepEqual(parseFaultFlag('1:kexec-load-error').fault, { kind: 'kexec-load-error', message: 'kexec_file_load failed: Operation not permitted' });
  });

  it('an agent crash fires once, at PHASE[:when]', () => {
    assert.deepEqual(parseFaultFlag('1:agent-crash:prepare').fault, { kind: 'agent-crash', phase: 'prepare', when: 'before', times: 1 });
    assert.deepEqual(parseFaultFlag('1:agent-crash:retrieve:after').fault, { kind: 'agent-crash', phase: 'retrieve', when: 'after', times: 1 });
  });

  it('rejects malformed flags with the flag and the fix in the message', () => {
    usage('3', /expected NODE:KIND\[:ARG\]/);
    usage(':cold-reboot', /expected NODE:KIND/);
    usage('1:reboot', /unknown fault kind "reboot": one of prepare-error, .*agent-crash/);
    usage('1:prepare-error', /device: .*\(prepare-error takes BDF \(required\)/);
    usage('1:prepare-error:05:00.1', /device: expected a PCI address like "0000:05:00.1"/);
    usage('1:never-returns:now', /never-returns takes no argument/);
    usage('1:agent-crash', /phase: .*agent-crash takes PHASE/);
    usage('1:agent-crash:prepare:during', /when: /);
    usage('1:finish-error:ENOSPC', /errno: /);
  });

  it('NODE is a position in the fleet (1 = the first node) or a name', () => {
    assert.equal(resolveFaultNode(parseFaultFlag('2:cold-reboot'), NAMES).node, 'sim-node-02');
    assert.equal(resolveFaultNode(parseFaultFlag('sim-node-03:cold-reboot'), NAMES).node, 'sim-node-03');
    assert.throws(() => resolveFaultNode(parseFaultFlag('4:cold-reboot'), NAMES), /^Error: --fault 4:cold-reboot: node 4 is not in the fleet: --nodes 3 makes nodes 1–3/);
    assert.throws(() => resolveFaultNode(parseFaultFlag('0:cold-reboot'), NAMES), /node 0 is not in the fleet/);
    assert.throws(() => resolveFaultNode(parseFaultFlag('gpu-1:cold-reboot'), NAMES), /no node named "gpu-1" in the fleet \(sim-node-01 … sim-node-03\)/);
  });

  it('a fault that could never fire is refused before anything starts', () => {
    const nvme: DemoNode = { name: 'sim-node-02', topology: 'nvme-sriov', preservable: ['0000:05:00.1', '0000:05:00.2'], notPreservable: [] };
    const mixed: DemoNode = { name: 'sim-node-03', topology: 'mixed-switch', preservable: ['0000:04:00.0'], notPreservable: ['0001:01:00.0'] };
    const fault = (raw: string) => resolveFaultNode(parseFaultFlag(raw), NAMES);
    checkFaultNode(fault('2:prepare-error:0000:05:00.1'), nvme);
    checkFaultNode(fault('2:never-returns'), nvme);
    assert.throws(() => checkFaultNode(fault('2:prepare-error:0000:18:00.0'), nvme), /sim-node-02 \(nvme-sriov\) has no passthrough device 0000:18:00.0; its passthrough devices: 0000:05:00.1, 0000:05:00.2/);
    assert.throws(() => checkFaultNode(fault('3:cold-reboot'), mixed), /the plan skips sim-node-03 \(mixed-switch\): 0001:01:00.0 .* pick another node/);
  });

  it('writes one fault file, faults grouped per node', () => {
    const faults = ['2:cold-reboot', '2:finish-error', '1:panic-on-boot'].map((raw) => resolveFaultNode(parseFaultFlag(raw), NAMES));
    assert.deepEqual(faultFile(faults), { nodes: { 'sim-node-02': [{ kind: 'cold-reboot' }, { kind: 'finish-error', errno: 'EIO' }], 'sim-node-01': [{ kind: 'panic-on-boot' }] } });
  });

  it('prescribes Cancelled before the point of no return, Failed after it, and a plan that halts', () => {
    const outcome = (raw: string) => {
      const e = expectation(parseFaultFlag(raw).fault);
      return `${e.plan} ${e.phases.join('|')} ${e.reason ?? ''}`.trim();
    };
    assert.equal(outcome('1:prepare-error:0000:05:00.1'), 'Halted Cancelled PrepareFailed');
    assert.equal(outcome('1:kexec-load-error'), 'Halted Cancelled KexecLoadFailed');
    assert.equal(outcome('1:freeze-error'), 'Completed Cancelled KexecRefused');
    assert.equal(outcome('1:never-returns'), 'Halted Failed NodeLost');
    assert.equal(outcome('1:panic-on-boot'), 'Halted Failed NodeLost');
    assert.equal(outcome('1:cold-reboot'), 'Halted Failed ColdRebooted');
    assert.equal(outcome('1:bus-master-lost'), 'Halted Failed DMALost');
    assert.equal(outcome('1:native-driver-after-kexec:0000:05:00.1'), 'Halted Failed DriverChanged');
    assert.equal(outcome('1:finish-error'), 'Halted Failed FinishFailed');
    assert.equal(outcome('1:agent-crash:prepare'), 'Halted Cancelled AgentRestarted');
    assert.equal(outcome('1:agent-crash:execute'), 'Halted Failed KexecInterrupted');
    assert.equal(outcome('1:agent-crash:retrieve:after'), 'Completed Succeeded');
    assert.equal(outcome('1:helper-crash'), 'Halted Cancelled HelperLost');
  });
});
