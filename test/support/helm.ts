// helm and kubectl from the cached tools step (scripts/control-plane-binaries.sh), run against a test control plane.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CHART_DIR } from '../../src/api/generate';

export const CHART = path.resolve(__dirname, '../..', CHART_DIR);

/** Every opt-in of the chart switched on. */
export const ALL_OPT_INS = ['serviceMonitor.enabled=true', 'podDisruptionBudget.enabled=true', 'prometheusRule.enabled=true', 'grafanaDashboard.enabled=true'];

function tool(name: 'helm' | 'kubectl'): string {
  const dir = process.env.LIVEUPDATE_TEST_BIN_DIR;
  if (!dir) throw new Error('LIVEUPDATE_TEST_BIN_DIR is not set: run integration tests through `npm run test:integration`');
  const bin = path.join(dir, name);
  if (!existsSync(bin)) throw new Error(`${bin} is missing: \`bash scripts/control-plane-binaries.sh\` builds it (KUBEBUILDER_ASSETS directories hold no ${name})`);
  return bin;
}

export class ToolError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
  ) {
    super(`${command} failed: ${stderr.trim()}`);
  }
}

/** Runs helm or kubectl with KUBECONFIG set (default: the suite's admin kubeconfig); stdout, or a ToolError with stderr. */
export function runTool(name: 'helm' | 'kubectl', args: string[], options: { kubeconfig?: string; input?: string } = {}): Promise<string> {
  const kubeconfig = options.kubeconfig ?? process.env.LIVEUPDATE_TEST_KUBECONFIG ?? '';
  return new Promise((resolve, reject) => {
    const child = execFile(tool(name), args, { env: { ...process.env, KUBECONFIG: kubeconfig }, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new ToolError(`${name} ${args.join(' ')}`, stderr || err.message));
      else resolve(stdout);
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export const helm = (args: string[], kubeconfig?: string) => runTool('helm', args, { kubeconfig });
export const kubectl = (args: string[], options?: { kubeconfig?: string; input?: string }) => runTool('kubectl', args, options);

/** `helm install` of the chart (no --wait: no kubelet runs pods here) into a new namespace. */
export function installChart(release: string, namespace: string, values: string[] = [], kubeconfig?: string): Promise<string> {
  return helm(['install', release, CHART, '--namespace', namespace, '--create-namespace', ...values.flatMap((v) => ['--set', v])], kubeconfig);
}

export function uninstallChart(release: string, namespace: string, kubeconfig?: string): Promise<string> {
  return helm(['uninstall', release, '--namespace', namespace, '--wait=false'], kubeconfig);
}
