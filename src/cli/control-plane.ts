// `liveupdate control-plane`: a local kube-apiserver + etcd with our CRDs installed (or none, for a `helm install`
// that brings its own: Helm refuses to adopt CRDs it did not create), until interrupted.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalControlPlane } from '../envtest/control-plane';
import { packageRoot } from '../util/package-root';

const ROOT = packageRoot();

export interface ControlPlaneOptions {
  kubeconfig?: string;
  /** A CRD directory, or false (--no-crds) for none. */
  crds?: string | false;
}

export async function run(options: ControlPlaneOptions): Promise<number> {
  const kubeconfig = options.kubeconfig ?? path.join(ROOT, '.cache', 'kubeconfig');
  const crds = options.crds === false ? undefined : (options.crds ?? path.join(ROOT, 'crds'));
  const started = Date.now();
  const plane = await LocalControlPlane.start({ ...(crds ? { crdDir: crds } : {}), log: (m) => console.error(`[control-plane] ${m}`) });
  const stopped = new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  try {
    await mkdir(path.dirname(kubeconfig), { recursive: true });
    await writeFile(kubeconfig, plane.kubeconfig(), { mode: 0o600 });
    const kubectl = plane.binaries.kubectl ?? 'kubectl';
    const helm = plane.binaries.helm ?? 'helm';
    const ready = `Local control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${plane.admin.server}`;
    console.log(
      [
        crds ? `${ready} (CRDs from ${crds} installed)` : `${ready} (no CRDs: the chart installs its own)`,
        '',
        `  export KUBECONFIG=${kubeconfig}`,
        ...(crds ? [] : [`  ${helm} install liveupdate ${path.join(ROOT, 'charts', 'liveupdate-operator')} --namespace liveupdate-system --create-namespace`]),
        `  ${kubectl} get crds`,
        `  ${kubectl} apply -f ${path.join(ROOT, 'manifests', 'examples')}`,
        `  ${kubectl} get liveupdate -o wide`,
        '',
        'Press Ctrl-C to stop; everything it started is removed.',
      ].join('\n'),
    );
    await stopped;
  } finally {
    await plane.stop();
  }
  return 0;
}
