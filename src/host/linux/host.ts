// The real machine: PCI inventory from sysfs/proc (the shared reader), LUO through the native helper, kexec-tools.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { bindVfioPci } from '../pci/vfio-bind';
import type { Bdf, Host, HostIdentity, Inventory, Mount } from '../types';
import { LinuxKexec } from './kexec';
import { LinuxLuo, type LinuxLuoOptions } from './luo';
import { mountOf } from './mounts';
import { readBusMaster, readPciInventory } from './pci';

export interface LinuxHostOptions extends LinuxLuoOptions {
  /** Directory the kernel images to kexec must lie in (symlinks resolved). */
  imageDir: string;
  /** Default `kexec` from PATH. */
  kexecPath?: string;
}

/** Boot id changes on every boot, kexec included; the release says which kernel runs. */
export async function readIdentity(procRoot: string): Promise<HostIdentity> {
  const read = async (file: string) => (await readFile(path.join(procRoot, file), 'utf8')).trim();
  return { bootId: await read('sys/kernel/random/boot_id'), kernelRelease: await read('sys/kernel/osrelease') };
}

export class LinuxHost implements Host {
  readonly luo: LinuxLuo;
  readonly kexec: LinuxKexec;
  private readonly sysfsRoot: string;
  private readonly procRoot: string;

  constructor(options: LinuxHostOptions) {
    this.sysfsRoot = options.sysfsRoot ?? '/sys';
    this.procRoot = options.procRoot ?? '/proc';
    this.luo = new LinuxLuo(options);
    this.kexec = new LinuxKexec({ imageDir: options.imageDir, procRoot: this.procRoot, sysfsRoot: this.sysfsRoot, ...(options.kexecPath ? { kexecPath: options.kexecPath } : {}) });
  }

  identity(): Promise<HostIdentity> {
    return readIdentity(this.procRoot);
  }

  inventory(): Promise<Inventory> {
    return readPciInventory({ sysfsRoot: this.sysfsRoot, procRoot: this.procRoot });
  }

  readBusMaster(bdf: Bdf): Promise<boolean> {
    return readBusMaster(this.sysfsRoot, bdf);
  }

  bindVfio(bdf: Bdf): Promise<void> {
    return bindVfioPci(this.sysfsRoot, bdf);
  }

  mountOf(dir: string): Promise<Mount | undefined> {
    return mountOf(this.procRoot, dir);
  }

  /** Stops the LUO helper: on mainline this cancels an unexecuted live update, so only at agent shutdown. */
  close(): Promise<void> {
    return this.luo.close();
  }
}
