// The lane's guest: one qemu-system-x86_64 process (q35, TCG: KVM does not work on these machines) whose serial
// console is its stdout. Every console line goes to a log file (the artifact kept on failure); `LANE` lines are
// parsed as they arrive so tests wait on them with deadlines. The process is tracked: it never outlives the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { trackChild } from '../../support/children';
import { GUEST } from '../lane-layout';

export interface LaneLine {
  verdict: 'PASS' | 'FAIL' | 'INFO' | 'DATA';
  step: string;
  detail: unknown;
  /** Index of the line in the console, to tell boots apart. */
  at: number;
}

export interface GuestOptions {
  kernel: string;
  initramfs: string;
  disk: string;
  /** Host loopback port of the test apiserver: the one place the guest may connect to. */
  apiserverPort: number;
  consoleLog: string;
  memoryMb?: number;
  /** Default 1: measured as fast as 2 under TCG here (82 s vs 82 s for the whole lane) at half the host CPU. */
  cpus?: number;
}

const LANE_LINE = /^LANE (PASS|FAIL|INFO|DATA) (\S+)(?: (.*))?$/;

function parseDetail(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class Guest {
  readonly lines: LaneLine[] = [];
  private readonly console: string[] = [];
  private readonly child: ChildProcess;
  private readonly log: WriteStream;
  private readonly listeners = new Set<() => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitedWith: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(options: GuestOptions) {
    const cmdline = ['console=ttyS0', 'liveupdate=on', 'kho=on', 'vfio.enable_unsafe_noiommu_mode=1', 'panic=-1', 'lu.step=1'].join(' ');
    // restrict=on: the guest reaches nothing but the one guestfwd, a per-connection relay to the host apiserver.
    const relay = `cmd:busybox nc 127.0.0.1 ${options.apiserverPort}`;
    const args = [
      '-machine', 'q35', '-accel', 'tcg', '-cpu', 'max', '-smp', String(options.cpus ?? 1), '-m', String(options.memoryMb ?? 1536),
      '-nodefaults', '-display', 'none', '-serial', 'stdio', '-no-reboot',
      '-kernel', options.kernel, '-initrd', options.initramfs, '-append', cmdline,
      '-device', 'pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x4',
      '-drive', `if=none,id=lu,format=raw,file=${options.disk}`,
      '-device', 'nvme,serial=lane,drive=lu,bus=rp1',
      '-device', 'pcie-root-port,id=rp2,bus=pcie.0,chassis=2,addr=0x5',
      '-device', 'edu,bus=rp2',
      '-device', 'edu,bus=pcie.0,addr=0x6',
      '-netdev', `user,id=n0,restrict=on,guestfwd=tcp:${GUEST.apiserverAddress}:${GUEST.apiserverPort}-${relay}`,
      '-device', 'virtio-net-pci,netdev=n0,bus=pcie.0,addr=0x3',
    ];
    this.log = createWriteStream(options.consoleLog);
    this.child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(this.child);
    const onLine = (line: string) => {
      this.log.write(`${line}\n`);
      this.console.push(line);
      if (this.console.length > 400) this.console.shift();
      // The serial console may carry a kernel message's tail in front of our line.
      const match = LANE_LINE.exec(line.slice(Math.max(0, line.indexOf('LANE '))).trimEnd());
      if (match) this.lines.push({ verdict: match[1] as LaneLine['verdict'], step: match[2]!, detail: parseDetail(match[3]), at: this.lines.length });
      for (const notify of this.listeners) notify();
    };
    createInterface({ input: this.child.stdout! }).on('line', onLine);
    createInterface({ input: this.child.stderr! }).on('line', (line) => onLine(`[qemu] ${line}`));
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.exitedWith = { code, signal };
        for (const notify of this.listeners) notify();
        resolve({ code, signal });
      }),
    );
  }

  /** QEMU has exited (the guest powered off, panicked, or was killed as hung). */
  get ended(): boolean {
    return this.exitedWith !== undefined;
  }

  /** The last console lines, for a failure message. */
  tail(count = 40): string {
    return this.console.slice(-count).join('\n');
  }

  /** Waits for the first LANE line of `step` after line index `after`; its FAIL rejects (see waitForLine). */
  waitFor(step: string, timeoutMs: number, after = -1): Promise<LaneLine> {
    return this.waitForLine(`step ${step}`, (l) => l.step === step && l.at > after, timeoutMs);
  }

  /** Waits for init's `boot` line of boot number `step` (1, 2, 3: see init.sh). */
  waitForBoot(step: number, timeoutMs: number): Promise<LaneLine> {
    return this.waitForLine(`boot ${step}`, (l) => l.step === 'boot' && (l.detail as { step?: number } | undefined)?.step === step, timeoutMs);
  }

  /** The first LANE line matching; a FAIL line, the guest's exit or the deadline rejects, with the console's last lines. */
  private waitForLine(what: string, match: (line: LaneLine) => boolean, timeoutMs: number): Promise<LaneLine> {
    return new Promise((resolve, reject) => {
      const finish = (error: string | undefined, line?: LaneLine) => {
        clearTimeout(timer);
        this.listeners.delete(probe);
        if (error) reject(new Error(`${error}\n--- last console lines ---\n${this.tail()}`));
        else resolve(line!);
      };
      const probe = () => {
        const line = this.lines.find(match);
        if (line?.verdict === 'FAIL') return finish(`guest ${what} failed: ${JSON.stringify(line.detail)}`);
        if (line) return finish(undefined, line);
        if (this.exitedWith) return finish(`the guest exited (${JSON.stringify(this.exitedWith)}) before ${what}`);
      };
      // A guest that missed a deadline is hung: it is killed, so every later wait fails at once instead of in turn.
      const timer = setTimeout(() => {
        finish(`no LANE line for ${what} within ${timeoutMs} ms: the guest is hung, killing it`);
        this.child.kill('SIGKILL');
      }, timeoutMs);
      this.listeners.add(probe);
      probe();
    });
  }

  /** Kills QEMU (idempotent) and flushes the console log. */
  async stop(): Promise<void> {
    if (!this.exitedWith) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    await new Promise<void>((resolve) => this.log.end(resolve));
  }
}
