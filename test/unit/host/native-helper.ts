// Builds (if stale) and locates the native LUO helper for tests; the build script is idempotent and fast when warm.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');

export function builtHelper(): string {
  execFileSync('bash', [path.join(root, 'scripts/build-native.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  return path.join(root, 'native/build/luo-helper');
}

/** The helper built with ASan + UBSan, and the fake LUO kernel (test/native/fake-luo.c) to preload into a helper. */
export function sanitizedHelper(): { helper: string; fakeKernel: string } {
  execFileSync('bash', [path.join(root, 'scripts/build-native.sh'), '--sanitize'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const dir = path.join(root, 'native/build/sanitize');
  return { helper: path.join(dir, 'luo-helper'), fakeKernel: path.join(dir, 'fake-luo.so') };
}
