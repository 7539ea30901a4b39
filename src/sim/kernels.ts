// Simulated kernel images: deterministic bytes per release, so every node (and every fleet) sees the same sha256 and
// a plan written once applies everywhere. kernels.json is what a test or the demo reads to write a plan's target.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export type KernelsIndex = Record<string, { image: string; sha256: string }>;

const RELEASE = /^[0-9A-Za-z][0-9A-Za-z._+-]*$/;

/** The image file name the simulated kexec derives the booted release from (host.ts releaseOfImage). */
export const imageName = (release: string): string => `vmlinuz-${release}`;

export function imageContent(release: string): string {
  return `liveupdate simulated kernel image\nrelease ${release}\n`;
}

export function kernelsIndex(imageDir: string, releases: readonly string[]): KernelsIndex {
  const index: KernelsIndex = {};
  for (const release of releases) {
    if (!RELEASE.test(release)) throw new Error(`kernel release ${JSON.stringify(release)} is not a release name like 6.19.4-lu2`);
    index[release] = { image: path.join(imageDir, imageName(release)), sha256: createHash('sha256').update(imageContent(release)).digest('hex') };
  }
  return index;
}

/** Writes the images into `imageDir` and `<indexDir>/kernels.json`; returns the index. */
export async function installKernels(imageDir: string, indexDir: string, releases: readonly string[]): Promise<KernelsIndex> {
  const index = kernelsIndex(path.resolve(imageDir), releases);
  await mkdir(imageDir, { recursive: true });
  for (const release of releases) await writeFile(index[release]!.image, imageContent(release));
  await writeFile(path.join(indexDir, 'kernels.json'), `${JSON.stringify(index, null, 2)}\n`);
  return index;
}
