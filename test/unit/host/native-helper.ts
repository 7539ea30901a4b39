// Builds (if stale) and locates the native LUO helper for tests; the build script is idempotent and fast when warm.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');

export function builtHelper(): string {
  execFileSync('bash', [path.join(root, 'scripts/build-native.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  return path.join(root, 'native/build/luo-helper');
}
