// Assembles what the lane's guest boots: a small initramfs (busybox, kexec, the dynamic libraries of everything that
// runs, /init) and the NVMe disk image (ext2) carrying the built CLI (dist/), the packages it actually loads, the
// native helper, Node 24 (stripped), the kernel's selftests and the kernel + initramfs to kexec into.
import { execFile as execFileCallback, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, realpath, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { GUEST } from '../lane-layout';

const execFile = promisify(execFileCallback);
const root = path.resolve(__dirname, '../../..');

/** Runs a command to completion; a failure carries its output (a build log ends up in the test's error). */
export async function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const { stdout } = await execFile(command, args, { cwd: options.cwd ?? root, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.message}\n${(e.stderr ?? '').slice(-4000)}${(e.stdout ?? '').slice(-2000)}`, { cause: err });
  }
}

/** Like run(), with the command's stderr passed through (slow provisioning steps report their progress). */
export function runShowingProgress(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

async function newestMtime(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const times = await Promise.all(entries.filter((e) => e.isFile()).map(async (e) => (await stat(path.join(e.parentPath, e.name))).mtimeMs));
  return Math.max(0, ...times);
}

/** `npm run build` when dist/ is older than src/ (a warm lane skips it), and the native helper. */
export async function ensureBuilt(): Promise<void> {
  const built = path.join(root, 'dist/src/cli/main.js');
  if (!existsSync(built) || (await stat(built)).mtimeMs < (await newestMtime(path.join(root, 'src')))) await run('npm', ['run', '--silent', 'build']);
  await run('npm', ['run', '--silent', 'build:native']);
}

/**
 * The package directories (relative to the project) that loading these modules resolves into: the guest gets those,
 * not all of node_modules. Sub-commands are required lazily by the CLI, so the entries name the ones the guest runs.
 */
async function loadedPackages(entries: string[]): Promise<string[]> {
  const script = `
    const { registerHooks } = require('node:module');
    const { fileURLToPath } = require('node:url');
    const seen = new Set();
    registerHooks({ resolve(specifier, context, next) {
      const result = next(specifier, context);
      if (result.url.startsWith('file:')) {
        const file = fileURLToPath(result.url);
        const at = file.lastIndexOf('/node_modules/');
        if (at >= 0) {
          const rest = file.slice(at + 14).split('/');
          seen.add(file.slice(0, at + 14) + rest.slice(0, rest[0].startsWith('@') ? 2 : 1).join('/'));
        }
      }
      return result;
    } });
    for (const entry of process.argv.slice(1)) require(entry);
    process.stdout.write(JSON.stringify([...seen]));`;
  const out = await run(process.execPath, ['-e', script, ...entries.map((e) => path.join(root, e))]);
  return (JSON.parse(out) as string[]).map((dir) => path.relative(root, dir)).sort();
}

/** Hard links where possible (same file system), else copies: staging 150 MB costs nothing then. */
async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  await run('cp', ['-al', from, to]).catch(() => run('cp', ['-a', from, to]));
}

/** Node 24 of the project, stripped once per binary into the cache (the guest reads every byte from emulated NVMe). */
async function strippedNode(cacheDir: string): Promise<string> {
  const binary = await realpath(path.join(root, 'node_modules/.bin/node'));
  const info = await stat(binary);
  const cached = path.join(cacheDir, `node-${createHash('sha256').update(`${binary}:${info.size}:${info.mtimeMs}`).digest('hex').slice(0, 16)}`);
  if (!existsSync(cached)) {
    await mkdir(cacheDir, { recursive: true });
    await run('strip', ['-o', `${cached}.tmp`, binary]);
    await rename(`${cached}.tmp`, cached);
  }
  return cached;
}

/** The shared libraries (and the loader) `ldd` lists for these binaries, by absolute path. */
async function sharedLibraries(binaries: string[]): Promise<string[]> {
  const found = new Set<string>();
  for (const binary of binaries) {
    for (const line of (await run('ldd', [binary])).split('\n')) {
      const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
      if (match) found.add(match[1]!);
    }
  }
  return [...found].sort();
}

/** Guest programs from test/kernel (TypeScript) into the payload's dist/, next to the built src they import. */
async function transpileGuestPrograms(distDir: string): Promise<void> {
  for (const file of ['test/kernel/guest/steps.ts', 'test/kernel/lane-layout.ts']) {
    const source = await readFile(path.join(root, file), 'utf8');
    const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true }, fileName: file });
    const out = path.join(distDir, file.replace(/\.ts$/, '.js'));
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, outputText);
  }
}

async function cpioOf(dir: string, out: string): Promise<void> {
  await run('bash', ['-c', 'cd "$1" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet > "$2"', 'cpio', dir, out]);
}

export interface Payload {
  kernel: string;
  initramfs: string;
  disk: string;
}

export interface PayloadOptions {
  /** provision.sh's build directory: bzImage, selftests/. */
  buildDir: string;
  /** Scratch directory of this run. */
  work: string;
  /** Cache for what does not change between runs (the stripped Node binary). */
  cacheDir: string;
  /** Shell assignments init.sh sources (LANE_NODE=...). */
  env: Record<string, string>;
  /** The guest agent's kubeconfig. */
  kubeconfig: string;
  /** A DNS name of the apiserver's certificate: the guest's /etc/hosts maps it to the guestfwd address. */
  apiserverName: string;
}

export async function assemblePayload(options: PayloadOptions): Promise<Payload> {
  const { buildDir, work } = options;
  const node = await strippedNode(options.cacheDir);
  const helper = path.join(root, 'native/build/luo-helper');
  const kexec = (await run('bash', ['-c', 'PATH=$PATH:/usr/sbin:/sbin command -v kexec'])).trim();

  // initramfs: /init, busybox, kexec and every library the dynamic binaries need.
  const initrd = path.join(work, 'initramfs');
  for (const dir of ['bin', 'sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'lu']) await mkdir(path.join(initrd, dir), { recursive: true });
  await copyFile(path.join(root, 'test/kernel/guest/init.sh'), path.join(initrd, 'init'));
  await chmod(path.join(initrd, 'init'), 0o755);
  await copyFile('/bin/busybox', path.join(initrd, 'bin/busybox'));
  await copyFile(kexec, path.join(initrd, 'sbin/kexec'));
  for (const lib of await sharedLibraries([node, helper, kexec])) {
    const target = path.join(initrd, lib);
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(await realpath(lib), target);
  }
  await writeFile(path.join(initrd, 'etc/hosts'), `127.0.0.1 localhost\n${GUEST.apiserverAddress} ${options.apiserverName}\n`);
  const initramfs = path.join(work, 'initramfs.cpio');
  await cpioOf(initrd, initramfs);

  // The disk: everything else.
  const disk = path.join(work, 'disk');
  await mkdir(path.join(disk, 'bin'), { recursive: true });
  await copyFile(node, path.join(disk, 'bin/node'));
  await chmod(path.join(disk, 'bin/node'), 0o755);
  await copyFile(path.join(root, 'package.json'), path.join(disk, 'package.json'));
  await linkTree(path.join(root, 'dist/src'), path.join(disk, 'dist/src'));
  await transpileGuestPrograms(path.join(disk, 'dist'));
  await mkdir(path.join(disk, 'native/build'), { recursive: true });
  await copyFile(helper, path.join(disk, 'native/build/luo-helper'));
  await chmod(path.join(disk, 'native/build/luo-helper'), 0o755);
  const packages = await loadedPackages(['dist/src/cli/program.js', 'dist/src/cli/agent.js', 'dist/src/cli/host-inspect.js', 'dist/src/host/linux/host.js']);
  for (const pkg of packages) await linkTree(path.join(root, pkg), path.join(disk, pkg));
  await linkTree(path.join(buildDir, 'selftests'), path.join(disk, 'selftests'));
  await mkdir(path.join(disk, 'boot'), { recursive: true });
  await copyFile(path.join(buildDir, 'bzImage'), path.join(disk, 'boot/bzImage'));
  await copyFile(initramfs, path.join(disk, 'boot/initramfs.cpio'));
  await mkdir(path.join(disk, 'state'), { recursive: true });
  await writeFile(path.join(disk, 'kubeconfig'), options.kubeconfig);
  await writeFile(path.join(disk, 'lane.env'), Object.entries(options.env).map(([k, v]) => `${k}='${v}'\n`).join(''));

  const image = path.join(work, 'disk.img');
  const megabytes = Math.ceil(Number((await run('du', ['-sm', '--apparent-size', disk])).split('\t')[0]) * 1.3) + 64;
  await run('mke2fs', ['-q', '-F', '-t', 'ext2', '-b', '4096', '-d', disk, image, `${megabytes}M`], { env: { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` } });
  return { kernel: path.join(buildDir, 'bzImage'), initramfs, disk: image };
}

/** Where the lane keeps what survives runs: ~/.cache/liveupdate-operator/kernel (provision.sh's cache too). */
export function laneCacheDir(): string {
  return path.join(process.env['XDG_CACHE_HOME'] ?? path.join(os.homedir(), '.cache'), 'liveupdate-operator/kernel');
}
