// Warm start of the local control plane (binaries cached): start → ready (CRDs established) → stop, N times.
// Usage: npm run bench:control-plane -- [runs]
import path from 'node:path';
import { LocalControlPlane } from '../src/envtest/control-plane';
import { percentile } from './stats';

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 5);
  const crdDir = path.resolve(__dirname, '../crds');
  const starts: number[] = [];
  const stops: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const plane = await LocalControlPlane.start({ crdDir });
    const t1 = performance.now();
    await plane.stop();
    starts.push(t1 - t0);
    stops.push(performance.now() - t1);
  }
  const fmt = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return `p50 ${(percentile(s, 50) / 1000).toFixed(2)} s  p95 ${(percentile(s, 95) / 1000).toFixed(2)} s  max ${(s.at(-1)! / 1000).toFixed(2)} s`;
  };
  console.log(`control plane warm start (etcd + kube-apiserver ready, default namespace, ${crdDir} CRDs established), ${runs} runs`);
  console.log(`  start: ${fmt(starts)}`);
  console.log(`  stop:  ${fmt(stops)}`);
}

void main();
