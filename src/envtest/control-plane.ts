// A real kube-apiserver + etcd on loopback, for integration tests and the demo (controller-runtime's envtest, in TypeScript).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AUDIT_POLICY, readAuditLog, type AuditEvent } from './audit';
import { resolveBinaries, type ControlPlaneBinaries } from './binaries';
import { freePort } from './free-port';
import { ControlPlaneError, httpGet, kubeconfigFor, type Endpoint } from './endpoint';
import { installCrds } from './install-crds';
import { ManagedProcess } from './managed-process';
import { reapStaleRuns, RUN_DIR_PREFIX } from './stale-runs';

export interface ControlPlaneOptions {
  /** Directory of CRD manifests to install and wait for (default: none). */
  crdDir?: string;
  /** Readiness deadline for each process. */
  startTimeoutMs?: number;
  /** kube-apiserver writes an audit log of write requests (audit.ts), read through auditLog(). */
  audit?: boolean;
  log?: (message: string) => void;
}

const ADMIN_USER = 'envtest-admin';

export class LocalControlPlane {
  private constructor(
    readonly binaries: ControlPlaneBinaries,
    readonly runDir: string,
    readonly admin: Endpoint,
    /** etcd's client URL (tests compact it to force 410 Gone). */
    readonly etcdUrl: string,
    private readonly processes: ManagedProcess[],
    private readonly apiserver: ApiserverLauncher,
    private readonly timeoutMs: number,
    private readonly killOnExit: () => void,
  ) {}

  static async start(options: ControlPlaneOptions = {}): Promise<LocalControlPlane> {
    const log = options.log ?? (() => undefined);
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    await reapStaleRuns(log);
    const binaries = await resolveBinaries();
    const runDir = await mkdtemp(path.join(os.tmpdir(), RUN_DIR_PREFIX));
    await writeFile(path.join(runDir, 'owner.pid'), String(process.pid));
    const processes: ManagedProcess[] = [];
    // Last resort: a process that exits without stop() (a crashed test, process.exit) takes them along.
    const killOnExit = (): void => processes.forEach((p) => p.killNow());
    process.on('exit', killOnExit);
    try {
      const etcdUrl = await startEtcd(binaries, runDir, processes, timeoutMs, log);
      const apiserver = await apiserverLauncher(binaries, runDir, etcdUrl, options.audit ?? false, log);
      await apiserver.launch(timeoutMs, (p) => processes.push(p));
      const admin = apiserver.endpoint;
      if (options.crdDir) await installCrds(admin, options.crdDir, timeoutMs, log);
      return new LocalControlPlane(binaries, runDir, admin, etcdUrl, processes, apiserver, timeoutMs, killOnExit);
    } catch (err) {
      process.removeListener('exit', killOnExit);
      await Promise.all(processes.map((p) => p.stop()));
      await rm(runDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Process ids of etcd and kube-apiserver (for checks that nothing outlives stop()). */
  get pids(): number[] {
    return this.processes.flatMap((p) => (p.pid === undefined ? [] : [p.pid]));
  }

  /** A kubeconfig document (YAML-compatible JSON) for the admin identity. */
  kubeconfig(): string {
    return kubeconfigFor(this.admin, ADMIN_USER);
  }

  /** The audit log's events so far, oldest first (start with `audit: true`). */
  async auditLog(): Promise<AuditEvent[]> {
    if (!this.apiserver.auditLog) throw new Error('auditLog(): this control plane was started without `audit: true`');
    return readAuditLog(this.apiserver.auditLog);
  }

  /**
   * Stops kube-apiserver and starts it again on the same port, certificates and etcd, as a control-plane upgrade or
   * crash does: clients keep their kubeconfig; watches break; the watch cache restarts from etcd.
   */
  async restartApiserver(downMs = 0): Promise<void> {
    const index = this.processes.findIndex((p) => p.name === 'kube-apiserver');
    await this.processes[index]?.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.apiserver.launch(this.timeoutMs, (p) => this.processes.splice(index, 1, p));
  }

  async stop(): Promise<void> {
    // apiserver first: it holds connections to etcd.
    for (const p of [...this.processes].reverse()) await p.stop();
    process.removeListener('exit', this.killOnExit);
    await rm(this.runDir, { recursive: true, force: true });
  }
}

async function startEtcd(
  binaries: ControlPlaneBinaries,
  runDir: string,
  processes: ManagedProcess[],
  timeoutMs: number,
  log: (m: string) => void,
): Promise<string> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const etcd = new ManagedProcess('etcd', binaries.etcd, [
    `--data-dir=${path.join(runDir, 'etcd')}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    '--unsafe-no-fsync',
    '--log-level=warn',
  ]);
  processes.push(etcd);
  log(`etcd starting on ${client}`);
  await waitFor(etcd, timeoutMs, async () => (await httpGet(`${client}/health`)).body.includes('"health":"true"'));
  return client;
}

interface ApiserverLauncher {
  endpoint: Endpoint;
  /** The audit log file, if auditing. */
  auditLog?: string;
  /** Starts kube-apiserver (`track` gets the process at once, for cleanup) and resolves once it serves; same port and certificates every time. */
  launch(timeoutMs: number, track: (process: ManagedProcess) => void): Promise<void>;
}

async function apiserverLauncher(binaries: ControlPlaneBinaries, runDir: string, etcdUrl: string, audit: boolean, log: (m: string) => void): Promise<ApiserverLauncher> {
  const certDir = path.join(runDir, 'certs');
  await mkdir(certDir);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const saKey = path.join(certDir, 'sa.key');
  const saPub = path.join(certDir, 'sa.pub');
  await writeFile(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
  const token = randomBytes(24).toString('hex');
  const tokenFile = path.join(certDir, 'tokens.csv');
  await writeFile(tokenFile, `${token},${ADMIN_USER},${ADMIN_USER},"system:masters"\n`);
  const port = await freePort();
  const args = [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1', // these machines have no default route
    `--secure-port=${port}`,
    `--cert-dir=${certDir}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    `--service-account-issuer=https://127.0.0.1:${port}`,
    `--service-account-key-file=${saPub}`,
    `--service-account-signing-key-file=${saKey}`,
    `--token-auth-file=${tokenFile}`,
    '--authorization-mode=RBAC',
    '--disable-admission-plugins=ServiceAccount',
    '--allow-privileged=true',
  ];
  // Part of `args`, so a restarted apiserver keeps auditing into the same file (appending).
  const auditLog = audit ? path.join(runDir, 'audit.log') : undefined;
  if (auditLog) {
    const policy = path.join(runDir, 'audit-policy.yaml');
    await writeFile(policy, JSON.stringify(AUDIT_POLICY));
    // blocking: each event is written as its request completes, not batched for later; maxsize 0: one file, never rotated.
    args.push(`--audit-policy-file=${policy}`, `--audit-log-path=${auditLog}`, '--audit-log-format=json', '--audit-log-mode=blocking', '--audit-log-maxsize=0');
  }
  const server = `https://127.0.0.1:${port}`;
  const caFile = path.join(certDir, 'apiserver.crt');
  const endpoint: Endpoint = { server, caData: '', token };
  return {
    endpoint,
    auditLog,
    async launch(timeoutMs, track) {
      const apiserver = new ManagedProcess('kube-apiserver', binaries.kubeApiserver, args);
      track(apiserver);
      log(`kube-apiserver starting on ${server}`);
      try {
        await waitFor(apiserver, timeoutMs, async () => {
          if (!existsSync(caFile)) return false;
          // Self-signed on first start, reused from --cert-dir afterwards: clients keep trusting it across restarts.
          endpoint.caData ||= await readFile(caFile, 'utf8');
          const readyz = await httpGet(`${server}/readyz`, { ca: endpoint.caData, token });
          if (readyz.status !== 200) return false;
          // The bootstrap controller creates `default` shortly after /readyz; clients expect it.
          return (await httpGet(`${server}/api/v1/namespaces/default`, { ca: endpoint.caData, token })).status === 200;
        });
      } catch (err) {
        await apiserver.stop();
        throw err;
      }
    },
  };
}

/** Polls `ready` until true; fails fast with the process's last log lines if it exits or the deadline passes. */
async function waitFor(proc: ManagedProcess, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitedEarly) {
      const { code, signal } = await proc.exited;
      throw new ControlPlaneError(`${proc.name} exited (code ${code}, signal ${signal}) before becoming ready. Last lines:\n${proc.lastLines()}`);
    }
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new ControlPlaneError(`${proc.name} not ready after ${timeoutMs} ms. Last lines:\n${proc.lastLines()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
