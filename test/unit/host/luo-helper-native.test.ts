// The C helper itself, end to end against a fake LUO kernel preloaded into it (test/native/fake-luo.c): once built
// with AddressSanitizer + UndefinedBehaviorSanitizer (any finding aborts it), once the shipped build under valgrind's
// memcheck (which sees reads of uninitialised memory, which the sanitizers do not). Each run goes through every
// serve command, and checks what the helper still holds open after FINISH.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { readdir, readlink, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { builtHelper, sanitizedHelper } from './native-helper';

type Reply = { ok: boolean; errno?: string; at?: string; [field: string]: unknown };

/** One `luo-helper serve` process: a command per line in, a JSON reply per line out. */
class Serve {
  private readonly replies: Array<(reply: Reply) => void> = [];
  private stderr = '';
  private readonly exited: Promise<number | null>;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => this.replies.shift()?.(JSON.parse(line) as Reply));
    child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  send(command: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.replies.push(resolve);
      this.exited.then((code) => reject(new Error(`luo-helper exited (${code}) before answering ${command}:\n${this.stderr}`)), reject);
      this.child.stdin.write(`${command}\n`);
    });
  }

  /** Ends the process on a failed assertion, so the test reports instead of waiting on a live child. */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  /** End of input: the helper closes everything and exits. */
  async end(): Promise<{ code: number | null; stderr: string }> {
    this.child.stdin.end();
    const code = await this.exited;
    return { code, stderr: this.stderr };
  }
}

/** The targets of the process's open fds that are files the fake kernel restored (memfd:fake-luo-restored:TOKEN). */
async function restoredFilesHeld(pid: number): Promise<string[]> {
  const dir = `/proc/${pid}/fd`;
  const targets = await Promise.all((await readdir(dir)).map((fd) => readlink(path.join(dir, fd)).catch(() => '')));
  return targets.filter((t) => t.includes('fake-luo-restored')).sort();
}

/**
 * A VMM's fd, taken with pidfd_getfd (this test process plays the VMM, holding /dev/null): kept only if it is the
 * character device the caller named; another device number means the pid or fd was reused since the scan.
 */
async function preserveFromVmm(serve: Serve): Promise<void> {
  const vmm = openSync('/dev/null', 'r');
  try {
    const { rdev } = fstatSync(vmm);
    const [major, minor] = [Math.floor(rdev / 256) & 0xfff, rdev & 0xff];
    const taken = await serve.send(`preserve attempt-1 1282 pidfd:${process.pid}:${vmm}:${major}:${minor}`);
    assert.equal(taken.ok, true, JSON.stringify(taken));
    const reused = await serve.send(`preserve attempt-1 1283 pidfd:${process.pid}:${vmm}:${major}:${minor + 1}`);
    assert.equal(reused.errno, 'ESTALE', JSON.stringify(reused));
    assert.match(String(reused['message']), /pid was reused, or the fd was reassigned/);
    assert.equal((await serve.send(`preserve attempt-1 1283 pidfd:${process.pid}:${vmm}`)).errno, 'EINVAL', 'no unchecked form');
  } finally {
    closeSync(vmm);
  }
}

/**
 * Every command once, in the order an attempt uses them; asserts each reply and the fds held after FINISH / close.
 * `pidfd`: also the pidfd:... source (valgrind 3.19 does not implement pidfd_getfd: ENOSYS there).
 */
async function exercise(serve: Serve, { pidfd }: { pidfd: boolean }): Promise<void> {
  const ok = async (command: string) => {
    const reply = await serve.send(command);
    assert.equal(reply.ok, true, `${command}: ${JSON.stringify(reply)}`);
    return reply;
  };
  assert.equal((await ok('probe'))['api'], 'mainline');
  // First, while the stack is fresh (memcheck only sees a read of memory no earlier command wrote): a retrieved fd
  // that cannot be fstat-ed is its own errno.
  await ok('retrieve attempt-0');
  const unreadable = await serve.send('retrieve-memfd attempt-0 666');
  assert.deepEqual([unreadable.errno, unreadable.at], ['EBADF', 'retrieved memfd']);
  await ok('close attempt-0');
  // Old kernel: create, name, preserve the attempt key and a device file, cancel by close.
  await ok('create attempt-1');
  assert.equal((await ok('name attempt-1'))['name'], 'attempt-1');
  assert.equal((await ok(`preserve-memfd attempt-1 4294967296 ${Buffer.from('key').toString('hex')}`))['bytes'], 3);
  await ok('preserve attempt-1 1280 path:/dev/null');
  if (pidfd) await preserveFromVmm(serve);
  assert.equal((await serve.send('preserve attempt-1 1281 path:/nonexistent')).at, 'path:/nonexistent');
  assert.equal((await ok('close attempt-1'))['held'], true);
  assert.equal((await ok('close attempt-1'))['held'], false, 'cancel is idempotent');
  // New kernel: retrieve, take the devices and the key back, finish.
  await ok('retrieve attempt-2');
  const restored = await ok('retrieve-fd attempt-2 1280');
  await ok('retrieve-fd attempt-2 1281');
  const pid = Number(restored['pid']);
  assert.deepEqual(await restoredFilesHeld(pid), ['/memfd:fake-luo-restored:1280 (deleted)', '/memfd:fake-luo-restored:1281 (deleted)'], 'held until finish, for a VMM to take');
  assert.equal((await ok('retrieve-memfd attempt-2 4294967296'))['hex'], Buffer.from('restored:4294967296').toString('hex'));
  await ok('finish attempt-2');
  assert.deepEqual(await restoredFilesHeld(pid), [], 'FINISH hands the restored files over: the helper keeps none open');
  await ok('close attempt-2');
  // A retrieved session closed without FINISH (the agent gave up on it) releases its files too.
  await ok('retrieve attempt-3');
  await ok('retrieve-fd attempt-3 1280');
  await ok('close attempt-3');
  assert.deepEqual(await restoredFilesHeld(pid), [], 'close releases what the session restored');
  assert.equal((await serve.send('retrieve missing-attempt')).errno, 'ENOENT');
  assert.equal((await serve.send('legacy-state')).errno, 'ENOTTY');
  assert.equal((await serve.send('bogus')).errno, 'EINVAL');
}

describe('luo-helper (C) against a fake LUO kernel', () => {
  let dir: string;
  let device: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'luo-helper-native-'));
    device = path.join(dir, 'liveupdate');
    await writeFile(device, '');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('every command under AddressSanitizer + UndefinedBehaviorSanitizer: no finding, no fd kept after finish', async () => {
    const { helper, fakeKernel } = sanitizedHelper();
    // The fake kernel is preloaded ahead of the ASan runtime on purpose: only the link-order check is relaxed.
    const env = { ...process.env, LD_PRELOAD: fakeKernel, ASAN_OPTIONS: 'verify_asan_link_order=0:detect_leaks=1:abort_on_error=0', UBSAN_OPTIONS: 'print_stacktrace=1' };
    const serve = new Serve(spawn(helper, ['serve', '--dev', device], { env }));
    await exercise(serve, { pidfd: true }).catch((err: unknown) => {
      serve.kill();
      throw err;
    });
    const { code, stderr } = await serve.end();
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /Sanitizer|runtime error/, stderr);
  });

  it('the shipped build under valgrind memcheck: no read of uninitialised memory, no invalid access', async () => {
    const { fakeKernel } = sanitizedHelper();
    const version = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
    assert.equal(version.status, 0, `cannot run valgrind (${version.error?.message ?? version.stderr}): install it (Debian: apt-get install valgrind)`);
    const child = spawn('valgrind', ['-q', '--error-exitcode=97', builtHelper(), 'serve', '--dev', device], { env: { ...process.env, LD_PRELOAD: fakeKernel } });
    const serve = new Serve(child);
    await exercise(serve, { pidfd: false }).catch((err: unknown) => {
      serve.kill();
      throw err;
    });
    const { code, stderr } = await serve.end();
    assert.equal(code, 0, stderr);
  });
});
