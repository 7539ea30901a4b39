// `liveupdate control-plane`: a local kube-apiserver + etcd with our CRDs installed, until interrupted.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalControlPlane } from '../envtest/control-plane';
import { packageRoot } from '../util/package-root';

const ROOT = packageRoot();

export interface ControlPlaneOptions {
  kubeconfig?: string;
  crds?: string;
}

export async function run(options: ControlPlaneOptions): Promise<number> {
  const values = { kubeconfig: options.kubeconfig ?? path.join(ROOT, '.cache', 'kubeconfig'), crds: options.crds ?? path.join(ROOT, 'crds') };
  const started = Date.now();
  const plane = await LocalControlPlane.start({ crdDir: values.crds, log: (m) => console.error(`[control-plane] ${m}`) });
  const stopped = new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  try {
    await mkdir(path.dirname(values.kubeconfig), { recursive: true });
    await writeFile(values.kubeconfig, plane.kubeconfig(), { mode: 0o600 });
    const kubectl = plane.binaries.kubectl ?? 'kubectl';
    console.log(
      [
        `Local control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${plane.admin.server} (CRDs from ${values.crds} installed)`,
        '',
        `  export KUBECONFIG=${values.kubeconfig}`,
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
