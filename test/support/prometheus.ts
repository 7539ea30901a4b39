// promtool from the cached build step (scripts/prometheus-binaries.sh), for `promtool test rules` on the chart's alerts.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { ToolError } from './helm';

const SCRIPT = path.resolve(__dirname, '../../scripts/prometheus-binaries.sh');
let binDir: Promise<string> | undefined;

/** The cache directory holding promtool: printed by the script, which builds it only when it is missing. */
function promtoolDir(): Promise<string> {
  binDir ??= new Promise((resolve, reject) =>
    execFile('bash', [SCRIPT, 'promtool'], (err, stdout, stderr) => {
      if (err) reject(new ToolError(`bash ${SCRIPT} promtool`, stderr || err.message));
      else resolve(stdout.trim().split('\n').pop() ?? '');
    }),
  );
  return binDir;
}

/** Runs promtool in `cwd`; stdout, or a ToolError carrying stdout and stderr (promtool reports test failures on both). */
export async function promtool(args: string[], cwd: string): Promise<string> {
  const bin = path.join(await promtoolDir(), 'promtool');
  return new Promise((resolve, reject) =>
    execFile(bin, args, { cwd, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new ToolError(`promtool ${args.join(' ')}`, `${stdout}\n${stderr || err.message}`));
      else resolve(stdout);
    }),
  );
}
