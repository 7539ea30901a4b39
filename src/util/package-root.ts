import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The project's root directory (the one holding package.json), found from this file so it is the same whether the
 * code runs from src/ under ts-node or from dist/src/ after `npm run build`.
 */
export function packageRoot(from = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** A path inside the project: packageRoot() joined with the parts. */
export const projectPath = (...parts: string[]): string => path.join(packageRoot(), ...parts);
