// Loading and running the next kernel with Debian's kexec-tools, file-based (kexec_file_load: `kexec -l -s`), so a
// kernel with signature enforcement or lockdown accepts it; unloading goes the same way (`kexec -s -u`: a plain `-u`
// uses kexec_load before kexec-tools 2.0.27, which lockdown refuses). Execution is `kexec -e -x`, never `systemctl
// kexec` (systemd would stop services first and kill the LUO session holder, cancelling the live update) and never
// a bare `-e`, which brings every network interface down before reboot(KEXEC): a refused kexec then leaves the node
// off the network and the agent can never report it.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Kexec, KernelImage } from '../types';
import type { LuoHelper } from './luo-helper';

export interface LinuxKexecOptions {
  /** Only images and initrds whose real path (symlinks resolved) lies inside this directory are loaded. */
  imageDir: string;
  /** Default `kexec` from PATH (kexec-tools). */
  kexecPath?: string;
  /** Default /proc: the running command line for cmdline.reuse. */
  procRoot?: string;
  /** Default /sys: kernel/kexec_loaded says whether a kernel is staged. */
  sysfsRoot?: string;
  /**
   * When set, execute() asks this LUO holder to call reboot(LINUX_REBOOT_CMD_KEXEC) itself instead of running
   * `kexec -e`; useful where kexec-tools cannot be run at execute time (the load still needs it).
   */
  rebootVia?: LuoHelper;
}

export class KexecError extends Error {
  constructor(
    message: string,
    readonly reason: 'OutsideImageDir' | 'ChecksumMismatch' | 'BadCmdline' | 'KexecFailed' | 'KexecStillLoaded',
  ) {
    super(message);
    this.name = 'KexecError';
  }
}

export class LinuxKexec implements Kexec {
  private readonly kexecPath: string;
  private readonly procRoot: string;
  private readonly sysfsRoot: string;

  constructor(private readonly options: LinuxKexecOptions) {
    this.kexecPath = options.kexecPath ?? 'kexec';
    this.procRoot = options.procRoot ?? '/proc';
    this.sysfsRoot = options.sysfsRoot ?? '/sys';
  }

  async load(image: KernelImage): Promise<void> {
    const { kernel, initrd } = await verifiedImage(this.options.imageDir, image);
    await this.run(await this.loadArguments(kernel, initrd, image.cmdline));
  }

  /** Unloads the staged kernel and proves it is gone: a kernel left staged is a KexecStillLoaded error. */
  async unload(): Promise<void> {
    await this.run(['-s', '-u']);
    const file = path.join(this.sysfsRoot, 'kernel/kexec_loaded');
    // No such file: a kernel without kexec, where nothing can be staged.
    const loaded = (await readFile(file, 'utf8').catch(() => '0')).trim();
    if (loaded !== '0')
      throw new KexecError(`${this.kexecPath} -s -u succeeded but ${file} is still ${loaded}: the cancelled kernel stays staged, and a later \`kexec -e\` or \`systemctl kexec\` would boot it; unload it by hand (kexec -s -u)`, 'KexecStillLoaded');
  }

  async execute(): Promise<void> {
    if (this.options.rebootVia) {
      await this.options.rebootVia.check('kexec-reboot');
      return;
    }
    await this.run(['-e', '-x']);
  }

  /** `-l -s <image> [--initrd=<file>] [--append=<args>]` (kexec-tools argument order). */
  async loadArguments(kernel: string, initrd: string | undefined, cmdline: KernelImage['cmdline']): Promise<string[]> {
    for (const arg of [...cmdline.append, ...cmdline.remove])
      if (!/^[^\s\0]+$/.test(arg)) throw new KexecError(`kernel command line argument ${JSON.stringify(arg)} is empty or has whitespace`, 'BadCmdline');
    const args = ['-l', '-s', kernel];
    if (initrd !== undefined) args.push(`--initrd=${initrd}`);
    // Never --reuse-cmdline: it appends --append to the running line, so the parameters the last update added come
    // twice, and once more on every update. The reused line is rebuilt here without what append adds again.
    const base = cmdline.reuse ? withoutParameters(await this.runningCmdline(), cmdline.remove).filter((p) => !cmdline.append.includes(p)) : [];
    const full = [...base, ...cmdline.append];
    if (full.length > 0) args.push(`--append=${full.join(' ')}`);
    return args;
  }

  private async runningCmdline(): Promise<string[]> {
    const text = await readFile(path.join(this.procRoot, 'cmdline'), 'utf8');
    // BOOT_IMAGE is the boot loader's note about the old image, as kexec-tools' --reuse-cmdline also drops it.
    return cmdlineParameters(text).filter((p) => !p.startsWith('BOOT_IMAGE='));
  }

  private run(args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.kexecPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', (err) => reject(new KexecError(`cannot run ${this.kexecPath}: ${err.message} (install kexec-tools)`, 'KexecFailed')));
      child.on('close', (code) => {
        if (code === 0) resolve();
        else reject(new KexecError(`${this.kexecPath} ${args.join(' ')} failed (exit ${code}): ${stderr.trim()}`, 'KexecFailed'));
      });
    });
  }
}

/** Real paths of the image (and initrd) once both lie inside `imageDir` and each matches its sha256. */
export async function verifiedImage(imageDir: string, image: KernelImage): Promise<{ kernel: string; initrd: string | undefined; sha256: string }> {
  const kernel = await resolveInsideImageDir(imageDir, image.image);
  const initrd = image.initrd === undefined ? undefined : await resolveInsideImageDir(imageDir, image.initrd);
  const sha256 = await sha256File(kernel);
  if (sha256 !== image.sha256.toLowerCase())
    throw new KexecError(`${image.image}: sha256 is ${sha256}, expected ${image.sha256}; refusing to load it`, 'ChecksumMismatch');
  if (initrd !== undefined) {
    if (image.initrdSha256 === undefined) throw new KexecError(`${image.initrd}: no initrdSha256 given; refusing to load an unverified initrd`, 'ChecksumMismatch');
    const initrdSha256 = await sha256File(initrd);
    if (initrdSha256 !== image.initrdSha256.toLowerCase())
      throw new KexecError(`${image.initrd}: sha256 is ${initrdSha256}, expected initrdSha256 ${image.initrdSha256}; refusing to load it`, 'ChecksumMismatch');
  }
  return { kernel, initrd, sha256 };
}

/** The real path of `file` (symlinks resolved), or a KexecError when it lies outside `imageDir` or does not exist. */
export async function resolveInsideImageDir(imageDir: string, file: string): Promise<string> {
  const dir = await realpath(imageDir);
  let real: string;
  try {
    real = await realpath(file);
  } catch (err) {
    throw new KexecError(`${file}: cannot resolve (${(err as Error).message})`, 'OutsideImageDir');
  }
  if (!real.startsWith(dir + path.sep))
    throw new KexecError(`${file} resolves to ${real}, outside the image directory ${dir}; refusing to load it`, 'OutsideImageDir');
  return real;
}

/** Splits a command line into parameters the way the kernel does: whitespace inside double quotes does not split. */
export function cmdlineParameters(text: string): string[] {
  return text.match(/(?:[^\s"]|"[^"]*(?:"|$))+/g) ?? [];
}

/** Drops `name` and `name=value` parameters for every name in `remove` (a full `name=value` drops only that). */
export function withoutParameters(params: string[], remove: string[]): string[] {
  return params.filter((p) => !remove.some((r) => p === r || (!r.includes('=') && p.startsWith(`${r}=`))));
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
