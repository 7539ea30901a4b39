import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { projectPath } from '../util/package-root';

const SCRIPT = projectPath('scripts', 'control-plane-binaries.sh');

export interface ControlPlaneBinaries {
  dir: string;
  etcd: string;
  kubeApiserver: string;
  kubectl?: string;
  helm?: string;
}

/**
 * Resolves the control-plane binaries through the set-up script (KUBEBUILDER_ASSETS, then the cache, then a Go build).
 * The script's progress goes to our stderr; its last stdout line is the directory.
 */
export async function resolveBinaries(): Promise<ControlPlaneBinaries> {
  const dir = await new Promise<string>((resolve, reject) => {
    const child = execFile('bash', [SCRIPT], { maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) reject(new Error(`control-plane binaries unavailable (${SCRIPT} exited ${err.code ?? err.message})`));
      else resolve(stdout.trim().split('\n').pop() ?? '');
    });
    child.stderr?.pipe(process.stderr);
  });
  // kubectl and helm are optional: a KUBEBUILDER_ASSETS directory holds only the control plane.
  const executable = (file: string): Promise<boolean> =>
    access(file, constants.X_OK).then(
      () => true,
      () => false,
    );
  const kubectl = path.join(dir, 'kubectl');
  const helm = path.join(dir, 'helm');
  return {
    dir,
    etcd: path.join(dir, 'etcd'),
    kubeApiserver: path.join(dir, 'kube-apiserver'),
    ...((await executable(kubectl)) ? { kubectl } : {}),
    ...((await executable(helm)) ? { helm } : {}),
  };
}
