// The real-kernel lane: the project's host layer and agent on Linux 7.2.13 (Debian's linux-source-7.2, built from
// tinyconfig + scripts/kernel/config.fragment) under QEMU/TCG, with real kexec. One guest run chains every step
// across three boots (see test/kernel/guest/init.sh): the kernel's own LUO selftests first (they prove the lane),
// then the host layer (stage 1), then the agent driven through its LiveUpdateNode by this test (stage 2).
import assert from 'node:assert/strict';
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import type { LiveUpdateNode, LiveUpdateNodeStatus } from '../../src/api/node';
import { sha256File } from '../../src/host/linux/kexec';
import { nodeResource, type ClusterResource } from '../../src/kube/cluster-resource';
import { adminKubeConfig, uniqueName } from '../support/kube';
import { waitFor } from '../support/wait';
import { GUEST } from './lane-layout';
import { assemblePayload, ensureBuilt, laneCacheDir, runShowingProgress } from './support/payload';
import { Guest, type LaneLine } from './support/qemu';

/** Deadlines: TCG is slow, but a hung guest must fail the test, never stall it. */
const BOOT_MS = 180_000;
const STEP_MS = 90_000;

/** A DNS name the apiserver's (self-signed, so also CA) certificate holds, other than localhost: the guest's name for it. */
function apiserverName(admin: KubeConfig): string {
  const ca = admin.getCurrentCluster()?.caData;
  if (!ca) throw new Error('the test kubeconfig has no certificate-authority-data');
  const names = (new X509Certificate(Buffer.from(ca, 'base64')).subjectAltName ?? '').split(', ').filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
  const name = names.find((n) => n !== 'localhost');
  if (!name) throw new Error(`the apiserver certificate has no DNS name but localhost: ${names.join(', ')}`);
  return name;
}

/** The agent's kubeconfig inside the guest: the test apiserver through the one guestfwd, under a name its cert has. */
function guestKubeconfig(admin: KubeConfig, name: string): string {
  const kc = new KubeConfig();
  const cluster = admin.getCurrentCluster()!;
  kc.loadFromOptions({
    clusters: [{ ...cluster, server: `https://${name}:${GUEST.apiserverPort}` }],
    users: admin.users,
    contexts: admin.contexts,
    currentContext: admin.currentContext,
  });
  return kc.exportConfig();
}

describe('real-kernel lane: Linux 7.2 LUO under QEMU with real kexec', () => {
  const node = uniqueName('kernel-lane');
  let work: string;
  let guest: Guest | undefined;
  let records: ClusterResource<LiveUpdateNode>;
  let failed = false;
  let image = '';
  let initramfs = '';

  before(async () => {
    const started = Date.now();
    const buildDir = (await runShowingProgress('bash', ['scripts/kernel/provision.sh'])).trim().split('\n').at(-1)!;
    await ensureBuilt();
    const kc = adminKubeConfig();
    records = nodeResource(kc);
    const name = apiserverName(kc);
    work = await mkdtemp(path.join(os.tmpdir(), 'kernel-lane-'));
    const payload = await assemblePayload({ buildDir, work, cacheDir: path.join(laneCacheDir(), 'payload'), env: { LANE_NODE: node }, kubeconfig: guestKubeconfig(kc, name), apiserverName: name });
    image = await sha256File(payload.kernel);
    initramfs = await sha256File(payload.initramfs);
    console.error(`[kernel-lane] provisioned and assembled in ${Date.now() - started} ms (build ${buildDir})`);
    const port = Number(new URL(kc.getCurrentCluster()!.server).port);
    guest = new Guest({ ...payload, apiserverPort: port, consoleLog: path.join(work, 'console.log') });
  });

  afterEach((t) => {
    // The hook gets the finished test's context: one failed test keeps the console.
    // (`passed` is missing from @types/node's TestContext; Node 24 has it.)
    if ((t as unknown as { passed: boolean }).passed === false) failed = true;
  });

  after(async () => {
    await guest?.stop();
    await records?.delete(node).catch(() => undefined);
    if (!work) return;
    if (failed) console.error(`[kernel-lane] a test failed: the whole guest console is kept at ${path.join(work, 'console.log')}`);
    else await rm(work, { recursive: true, force: true });
  });

  const lane = (step: string, timeoutMs = STEP_MS): Promise<LaneLine> => guest!.waitFor(step, timeoutMs);
  const bootOf = (step: number): Promise<LaneLine> => guest!.waitForBoot(step, BOOT_MS);

  it('peer: the kernel\'s own LUO selftests pass in the guest, across a real kexec for the kexec pairs', async () => {
    const first = await bootOf(1);
    assert.match((first.detail as { release: string }).release, /^7\.2\.13/);
    await lane('peer.liveupdate', BOOT_MS);
    await lane('peer.luo_kexec_simple.stage1');
    await lane('peer.luo_multi_session.stage1');
    await lane('peer.luo_kexec_simple.stage2', BOOT_MS);
    await lane('peer.luo_multi_session.stage2');
    const dmesg = String((await lane('dmesg')).detail);
    assert.match(dmesg, /KHO: found kexec handover data/);
    assert.match(dmesg, /luo: Retrieved live update data/);
  });

  it('peer: the project\'s helper observes what the selftests observe (EBUSY, GET_NAME, ENOENT, EEXIST)', async () => {
    const { detail } = await lane('peer.agreement', BOOT_MS);
    assert.deepEqual(detail, { secondOpen: 'EBUSY', name: 'lane-agreement', unsupported: 'ENOENT', memfdBytes: 9, duplicate: 'EEXIST' });
  });

  it('stage 1: LUO detection says mainline (no /sys/kernel/liveupdate)', async () => {
    assert.deepEqual((await lane('stage1.detect', BOOT_MS)).detail, { api: 'mainline', sysfsState: false });
  });

  it('stage 1: host inspect reports the real devices, their bridge chains and the preservation plan', async () => {
    const report = (await lane('inspect', BOOT_MS)).detail as {
      devices: { bdf: string; driver: string | null; bridge: boolean; busMaster: boolean; upstream: string[]; class: string }[];
      preserve: { bdf: string; flags: string[] }[];
      errors: unknown[];
    };
    const byBdf = new Map(report.devices.map((d) => [d.bdf, d]));
    const nvme = byBdf.get(GUEST.nvme);
    assert.equal(nvme?.driver, 'nvme', JSON.stringify(nvme));
    assert.deepEqual(nvme.upstream, [GUEST.nvmeRootPort]);
    assert.equal(byBdf.get(GUEST.nvmeRootPort)?.bridge, true);
    const vfio = byBdf.get(GUEST.vfioDevice);
    assert.deepEqual({ driver: vfio?.driver, busMaster: vfio?.busMaster, upstream: vfio?.upstream }, { driver: 'vfio-pci', busMaster: true, upstream: [GUEST.vfioRootPort] });
    assert.equal(byBdf.get(GUEST.driverless)?.driver, null, 'the second edu device has no driver');
    assert.deepEqual(report.preserve, [
      { bdf: GUEST.vfioRootPort, flags: ['busmaster-bridge'] },
      { bdf: GUEST.vfioDevice, flags: ['busmaster'] },
    ]);
    assert.deepEqual(report.errors, []);
  });

  it('stage 1: a session held through a real kexec -e comes back with its memfd content and finishes', async () => {
    const held = (await lane('stage1.held', BOOT_MS)).detail as { key: unknown };
    await lane('stage1.doomed-prepared');
    const retrieved = (await lane('stage1.retrieved', BOOT_MS)).detail as { attemptKeys: unknown[]; finished: boolean };
    assert.deepEqual(retrieved.attemptKeys, [held.key], 'the memfd content is the key written before kexec');
    assert.equal(retrieved.finished, true);
  });

  it('stage 1: a session whose holder died before kexec is gone in the next kernel (implicit cancel)', async () => {
    assert.deepEqual((await lane('stage1.implicit-cancel', BOOT_MS)).detail, { sessions: [], retrieve: 'ENOENT' });
  });

  it('stage 1: a vfio-pci device with bus master set loses it through a plain kexec, and that is detected', async () => {
    await lane('stage1.vfio-armed', BOOT_MS);
    const { detail } = await lane('stage1.busmaster-lost', BOOT_MS);
    assert.deepEqual(detail, { bdf: GUEST.vfioDevice, before: true, after: false, lost: true });
  });

  const status = async (): Promise<LiveUpdateNodeStatus> => (await records.get(node)).status ?? {};
  /** The agent's status once `check` holds; fails at the deadline, or at once when the guest is gone. */
  const until = async (what: string, check: (s: LiveUpdateNodeStatus) => boolean, timeoutMs = STEP_MS): Promise<LiveUpdateNodeStatus> => {
    const seen = await waitFor(`${node}: ${what}`, async () => {
      if (guest!.ended) return 'guest ended' as const;
      const s = await status();
      return check(s) ? s : undefined;
    }, timeoutMs, 250).catch((err: Error) => err);
    if (seen !== 'guest ended' && !(seen instanceof Error)) return seen;
    const why = seen instanceof Error ? seen.message : `the guest ended before ${node}: ${what}`;
    throw new Error(`${why}\nlast status: ${JSON.stringify({ ...(await status().catch(() => ({}))), devices: undefined })}\n--- last console lines ---\n${guest!.tail()}`);
  };
  const release = async () => ((await bootOf(2)).detail as { release: string }).release;
  const prepareSpec = async (planUid: string, attempt: number, preserve: string[]) => ({
    planRef: { name: 'kernel-lane', uid: planUid },
    attempt,
    action: 'Prepare',
    target: {
      release: await release(),
      image: `${GUEST.boot}/bzImage`,
      initrd: `${GUEST.boot}/initramfs.cpio`,
      sha256: image,
      initrdSha256: initramfs,
      cmdline: { append: ['lu.step=3'], remove: ['lu.step'], reuse: true },
    },
    compatibleFrom: ['7.2.*'],
    preserve: preserve.map((bdf) => ({ bdf })),
  });

  it('stage 2: Prepare of the vfio-pci device fails in preflight: the kernel cannot preserve VFIO devices', async () => {
    await lane('stage2.vfio-armed', BOOT_MS);
    const idle = await until('agent idle with its inventory', (s) => s.phase === 'Idle' && (s.devices ?? []).some((d) => d.bdf === GUEST.vfioDevice && d.driver === 'vfio-pci' && d.busMaster), BOOT_MS);
    const bootBefore = idle.bootID;
    const uid = randomUUID();
    await records.patch(node, { spec: await prepareSpec(uid, 1, [GUEST.vfioDevice]) });
    const failedPrepare = await until('Prepare refused', (s) => s.observedAttempt === 1 && s.phase === 'Failed');
    assert.equal(failedPrepare.lastError?.reason, 'NotPreservable');
    assert.match(failedPrepare.lastError?.message ?? '', /0000:02:00\.0: not preservable: the running kernel cannot preserve VFIO devices \(PRESERVE_FD: ENOENT\)/);
    assert.equal(failedPrepare.kexecIssuedAt, undefined, 'never a kexec that cuts DMA');
    assert.equal(failedPrepare.bootID, bootBefore);
  });

  it('stage 2: Prepare → Execute → real kexec → the restarted agent reports Verified with the LUO data handed over', async () => {
    const before = await status();
    const uid = randomUUID();
    await records.patch(node, { spec: await prepareSpec(uid, 2, []) });
    await until('Prepared', (s) => s.observedAttempt === 2 && s.observedPlanUID === uid && s.phase === 'Prepared');
    await records.patch(node, { spec: { action: 'Execute' } });
    const third = await bootOf(3);
    const handover = String((await guest!.waitFor('dmesg', BOOT_MS, third.at)).detail);
    assert.match(handover, /luo: Retrieved live update data/, 'the kernel says LUO data arrived in the new boot');
    const verified = await until('Verified on the new boot', (s) => s.observedAttempt === 2 && (s.phase === 'Verified' || s.phase === 'Failed'), BOOT_MS);
    assert.equal(verified.phase, 'Verified', JSON.stringify(verified.lastError));
    assert.notEqual(verified.bootID, before.bootID);
    assert.ok(verified.kexecIssuedAt);
    await records.patch(node, { spec: { action: 'Finish' } });
    await until('Finished', (s) => s.phase === 'Finished');
  });
});
