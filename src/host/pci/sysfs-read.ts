// Small readers for one PCI device directory in sysfs. Each failure becomes a DeviceReadError with a stable
// reason, so the inventory can report that device and carry on.
import { open, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { STANDARD_HEADER_SIZE } from './config';

export class DeviceReadError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export function errorCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** The first 64 bytes of `config`: all an unprivileged reader gets, and all the bus-master decision needs. */
export async function readConfigHeader(dir: string): Promise<Buffer> {
  let file;
  try {
    file = await open(join(dir, 'config'), 'r');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') throw new DeviceReadError('missing-config', 'no config file');
    throw new DeviceReadError('unreadable-config', `config: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    const header = Buffer.alloc(STANDARD_HEADER_SIZE);
    const { bytesRead } = await file.read(header, 0, STANDARD_HEADER_SIZE, 0);
    if (bytesRead < STANDARD_HEADER_SIZE)
      throw new DeviceReadError('short-config', `config holds ${bytesRead} bytes, less than the ${STANDARD_HEADER_SIZE}-byte header`);
    return header;
  } finally {
    await file.close();
  }
}

/** A text attribute; undefined when the file does not exist. */
export async function readAttribute(dir: string, name: string): Promise<string | undefined> {
  try {
    return await readFile(join(dir, name), 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw new DeviceReadError('unreadable-attribute', `${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Last component of a symlink's target (driver, iommu_group, physfn); null when absent, an error when dangling. */
export async function linkName(dir: string, name: string): Promise<string | null> {
  let target: string;
  try {
    target = await readlink(join(dir, name));
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null;
    throw new DeviceReadError('unreadable-attribute', `${name}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    await stat(join(dir, name));
  } catch {
    throw new DeviceReadError('dangling-symlink', `${name} -> ${target} points nowhere`);
  }
  return basename(target);
}

/** SR-IOV: the VFs of a PF from its virtfn0, virtfn1, ... links, in VF order. */
export async function readVirtfns(dir: string, entries: string[]): Promise<string[]> {
  const links = entries
    .map((e) => /^virtfn(\d+)$/.exec(e))
    .filter((m) => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]));
  const names: string[] = [];
  for (const m of links) {
    const name = await linkName(dir, m[0]);
    if (name !== null) names.push(name);
  }
  return names;
}

/** The VFIO device cdev name (vfio<N>) of a device bound to vfio-pci, from <dev>/vfio-dev/. */
export async function readVfioDevice(dir: string): Promise<string | null> {
  try {
    return (await readdir(join(dir, 'vfio-dev'))).find((e) => /^vfio\d+$/.test(e)) ?? null;
  } catch (err) {
    if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return null;
    throw new DeviceReadError('unreadable-attribute', `vfio-dev: ${err instanceof Error ? err.message : String(err)}`);
  }
}
