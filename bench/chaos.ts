// The e2e suite's operator-kill and apiserver-restart experiments at a larger scale, in one run: a fleet of agent
// processes, one plan over every node, the operator SIGKILLed again and again at seeded random points (restarted at
// once), kube-apiserver restarted in between. Prints what a user checks afterwards and exits 1 on any violation:
//   double kexecs       nodes whose simulated host booted more than twice (must be 0);
//   left cordoned by us nodes still unschedulable or carrying our cordon mark (must be 0);
//   status              the plan Completed with every node Succeeded on attempt 1, released, on the target kernel.
// Usage: npm run bench:chaos -- [--nodes 50] [--kills 30] [--apiserver-restarts 2] [--seed N]
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { planResource } from '../src/kube/cluster-resource';
import { outcomes, planFor, seededRandom, startFleet, stopFleet, TARGET, testSeed, untilPlan } from '../test/support/e2e';
import { OperatorProcess } from '../test/support/operator-process';
import { machineLine } from './report';
import { BenchResources } from './resources';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { nodes: { type: 'string', default: '50' }, kills: { type: 'string', default: '30' }, 'apiserver-restarts': { type: 'string', default: '2' }, seed: { type: 'string' } },
  });
  const [nodes, kills, restarts] = [Number(values.nodes), Number(values.kills), Number(values['apiserver-restarts'])];
  if (![nodes, kills].every((n) => Number.isInteger(n) && n >= 1) || !Number.isInteger(restarts) || restarts < 0) throw new Error('--nodes and --kills must be whole numbers >= 1, --apiserver-restarts >= 0');
  if (values.seed !== undefined) process.env.E2E_SEED = values.seed;
  const seed = testSeed();
  console.log(`chaos: seed ${seed} (replay with --seed ${seed}); ${nodes} nodes, ${kills} operator SIGKILLs, ${restarts} apiserver restarts`);
  console.log(machineLine());
  const random = seededRandom(seed);

  const resources = new BenchResources();
  try {
    const { plane, admin } = await resources.controlPlane();
    const dir = await resources.scratchDir('bench-chaos-');
    const kubeconfig = path.join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfig, plane.kubeconfig());
    const setupStart = Date.now();
    const fleet = resources.add(await startFleet(admin, kubeconfig, dir, nodes, { prefix: 'chaos' }), (f) => stopFleet(admin, f));
    console.log(`fleet of ${nodes} agent processes reported in ${((Date.now() - setupStart) / 1000).toFixed(1)} s`);

    // Generous timeouts: 50 agent processes, the operator and the control plane share the machine's cores.
    const body = planFor(fleet.fleet, { maxInFlight: 5, maxUnavailable: 5, nodeSoak: '3s' }, { timeouts: { prepare: '120s', nodeReturn: '120s', verify: '120s', finish: '120s' } });
    const plans = planResource(admin);
    let operator: OperatorProcess = new OperatorProcess(kubeconfig);
    resources.add(undefined, () => operator.stop());
    const t0 = Date.now();
    await plans.create(body);
    const phase = async () => (await plans.get(body.metadata.name).catch(() => undefined))?.status?.phase;
    // Restarts fall between kills, spread evenly over the run.
    const restartAfter = new Set(Array.from({ length: restarts }, (_, i) => Math.round(((i + 1) * kills) / (restarts + 1))));
    let landed = 0;
    for (let i = 1; i <= kills; i++) {
      const delay = 300 + Math.floor(random() * 4700);
      await new Promise((r) => setTimeout(r, delay)); // the experiment: a random point, not a wait for a condition
      const before = await phase();
      if (before === 'Completed') break;
      operator.kill('SIGKILL');
      await operator.exit;
      landed++;
      console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: kill ${i} ${delay} ms after the operator started (plan ${before ?? 'without status'})`);
      if (restartAfter.has(i)) {
        await plane.restartApiserver(1000);
        console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: kube-apiserver restarted (1 s down)`);
      }
      operator = new OperatorProcess(kubeconfig);
    }
    const end = await untilPlan(admin, body.metadata.name, 'Completed or Halted', (s) => ['Completed', 'Halted', 'Failed'].includes(s.phase ?? ''), 1_200_000, () => operator.log.slice(-4000));
    const results = await outcomes(admin, fleet);
    const doubleKexecs = results.filter((o) => o.boots > 2);
    const cordoned = results.filter((o) => o.unschedulable || o.cordonedBy !== undefined);
    const wrong = results.filter((o) => o.mark?.phase !== 'Succeeded' || o.mark.attempt !== 1 || o.boots !== 2 || o.record.status?.kernelRelease !== TARGET || o.record.spec.planRef !== undefined);
    const statusOk = end.phase === 'Completed' && end.summary?.succeeded === nodes && (end.summary?.failed ?? 0) === 0;
    console.log(`\nrollout ended ${end.phase} after ${((Date.now() - t0) / 1000).toFixed(1)} s; ${landed} kills landed mid-rollout`);
    console.log(`double kexecs: ${doubleKexecs.length}${doubleKexecs.length ? ` (${doubleKexecs.map((o) => `${o.node}: ${o.boots} boots`).join(', ')})` : ''}`);
    console.log(`nodes left cordoned by us: ${cordoned.length}${cordoned.length ? ` (${cordoned.map((o) => o.node).join(', ')})` : ''}`);
    console.log(`plan status: phase ${end.phase}, succeeded ${end.summary?.succeeded}/${nodes}, failed ${end.summary?.failed ?? 0}: ${statusOk ? 'correct' : 'WRONG'}`);
    console.log(`per-node outcome (Succeeded, attempt 1, one kexec, target kernel, released): ${nodes - wrong.length}/${nodes}${wrong.length ? ` (wrong: ${wrong.map((o) => `${o.node} mark ${JSON.stringify(o.mark)} boots ${o.boots}`).join('; ')})` : ''}`);
    return doubleKexecs.length === 0 && cordoned.length === 0 && statusOk && wrong.length === 0 && landed >= kills ? 0 : 1;
  } finally {
    await resources.stop();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
