// `preview PLAN_FILE`: the plan created with strategy.mode Preview, so the operator computes which nodes it would
// update, in which order and batches, and why it skips others (status.preview) — without touching any node.
import { readFile } from 'node:fs/promises';
import { load } from 'js-yaml';
import type { LiveUpdatePlan } from '../../api/plan';
import { sleep } from '../../kube/backoff';
import { httpStatus, isNotFound } from '../../kube/retry';
import { durationFlag, UsageError } from '../usage';
import { refusal, withCluster, type KubeFlags } from './kube';
import { formatOutput, renderPreview, type OutputFormat } from './render';

export interface PreviewOptions extends KubeFlags {
  file: string;
  output?: OutputFormat;
  timeout: string;
}

type Manifest = { kind?: unknown; metadata?: { name?: unknown }; spec?: { strategy?: Record<string, unknown> } };

/** The plan manifest of the file, checked only as far as needed to name it; the apiserver validates the rest. */
async function readManifest(file: string): Promise<{ name: string; body: Manifest }> {
  let body: Manifest;
  try {
    body = load(await readFile(file, 'utf8')) as Manifest;
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  if (!body || typeof body !== 'object' || body.kind !== 'LiveUpdatePlan') throw new UsageError(`${file}: kind: expected LiveUpdatePlan, got ${JSON.stringify(body?.kind)}`);
  const name = body.metadata?.name;
  if (typeof name !== 'string' || name === '') throw new UsageError(`${file}: metadata.name: a plan needs a name`);
  return { name, body };
}

const previewed = (plan: LiveUpdatePlan): boolean => plan.status?.preview !== undefined && (plan.status.observedGeneration ?? -1) >= (plan.metadata.generation ?? 0);

export async function run(options: PreviewOptions): Promise<number> {
  const timeoutMs = durationFlag('--timeout', options.timeout);
  const { name, body } = await readManifest(options.file);
  return withCluster(options, async (api) => {
    let plan = await api.plans.get(name).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    if (plan) {
      process.stderr.write(`plan ${name} exists: showing it (the file is not applied)\n`);
      if (plan.spec.strategy.mode !== 'Preview') {
        process.stderr.write(`plan ${name} runs in strategy.mode ${plan.spec.strategy.mode}, which keeps no preview; kubectl liveupdate status ${name} shows its rollout\n`);
        return 1;
      }
    } else {
      const spec = body.spec ?? {};
      try {
        plan = await api.plans.create({ ...body, spec: { ...spec, strategy: { ...spec.strategy, mode: 'Preview' } } });
      } catch (err) {
        if (httpStatus(err) === 422) throw new Error(`${options.file}: the apiserver refused plan ${name}: ${refusal(err)}`, { cause: err });
        throw err;
      }
      process.stderr.write(`plan ${name} created in strategy.mode Preview: no node is touched\n`);
    }
    const deadline = Date.now() + timeoutMs;
    while (!previewed(plan)) {
      if (Date.now() >= deadline) {
        process.stderr.write(
          `plan ${name}: no preview after ${options.timeout}: is the operator running, and does its --plan-selector match the plan's labels? ` +
            `kubectl get lup ${name} -o yaml shows the status\n`,
        );
        return 1;
      }
      await sleep(250);
      plan = await api.plan(name);
    }
    process.stdout.write(options.output ? formatOutput(plan.status?.preview, options.output) : renderPreview(plan));
    return 0;
  });
}
