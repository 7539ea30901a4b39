import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { load } from 'js-yaml';
import { buildCrd, KINDS, openApiSchema } from '../../../src/api/crds';
import { durationMs } from '../../../src/api/duration';
import { CHART_DIR, generatedFiles } from '../../../src/api/generate';
import { ApiParseError, parseNode, parsePlan } from '../../../src/api/parse';
import { structuralViolations, toStructural } from '../../../src/api/structural';
import { z } from 'zod';
import { MALFORMED_PLANS, malformedPlan, validPlan } from '../../support/plans';

const root = path.resolve(__dirname, '../../..');

describe('API schemas', () => {
  it('fills every default a user may omit', () => {
    const plan = parsePlan(validPlan('p'));
    assert.equal(plan.spec.abort, false);
    assert.deepEqual(plan.spec.timeouts, { prepare: '10m', nodeReturn: '15m', verify: '5m', finish: '5m' });
    assert.deepEqual(plan.spec.devices, { match: [], requirePreservation: true, onNodesWithoutDevices: 'Skip' });
    assert.deepEqual(plan.spec.target.kernel.cmdline, { append: [], remove: [], reuse: true });
    assert.equal(plan.spec.strategy.maxUnavailable, 1);
    assert.equal(plan.spec.strategy.mode, 'Execute');
    assert.equal(plan.spec.strategy.windows[0]?.timeZone, 'UTC');
    assert.deepEqual(plan.spec.failurePolicy, { maxFailedNodes: 0, onFailure: 'Halt' });
  });

  it('parses every example manifest', async () => {
    const dir = path.join(root, 'manifests/examples');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length >= 3);
    for (const file of files) {
      const plan = parsePlan(load(await readFile(path.join(dir, file), 'utf8')));
      assert.equal(plan.kind, 'LiveUpdatePlan', file);
    }
  });

  for (const c of MALFORMED_PLANS) {
    it(`rejects ${c.what} at ${c.field}`, () => {
      assert.throws(
        () => parsePlan(malformedPlan('bad', c)),
        (err: unknown) => err instanceof ApiParseError && err.issues.some((i) => i.path === c.field) && err.message.includes('LiveUpdatePlan "bad"'),
      );
    });
  }

  it('checks LiveUpdateNode spec invariants with field paths', () => {
    const node = { apiVersion: 'liveupdate.dev/v1alpha1', kind: 'LiveUpdateNode', metadata: { name: 'gpu-01' }, spec: { action: 'Prepare' } };
    assert.throws(
      () => parseNode(node),
      (err: unknown) => err instanceof ApiParseError && ['spec.planRef', 'spec.target'].every((p) => err.issues.some((i) => i.path === p)),
    );
    assert.equal(parseNode({ ...node, spec: {} }).spec.action, 'None');
  });

  it('reads Go-style durations', () => {
    assert.equal(durationMs('1h30m'), 5_400_000);
    assert.equal(durationMs('250ms'), 250);
    assert.equal(durationMs('0s'), 0);
    assert.throws(() => durationMs('10 minutes'), /not a duration/);
  });
});

describe('generated CRDs', () => {
  for (const def of KINDS) {
    it(`${def.kind} schema is structural`, () => {
      assert.deepEqual(structuralViolations(openApiSchema(def.schema)), []);
    });
  }

  it('the structural check catches what the apiserver rejects', () => {
    const bad = { type: 'object', properties: { a: { $ref: '#/x' }, b: { additionalProperties: false, type: 'object' }, c: { anyOf: [{ type: 'string' }] } } };
    const found = structuralViolations(bad);
    assert.ok(found.some((v) => v.includes('$.a: $ref')));
    assert.ok(found.some((v) => v.includes('$.b: additionalProperties: false')));
    assert.ok(found.some((v) => v.includes('$.c: no type')));
    assert.ok(found.some((v) => v.includes('type inside a combinator')));
  });

  it('refuses zod shapes that have no structural form', () => {
    const json = z.toJSONSchema(z.object({ x: z.union([z.string(), z.boolean()]) }), { target: 'openapi-3.0' });
    assert.throws(() => toStructural(json), /\$\.x: anyOf has no structural form/);
  });

  it('crds/ and the chart (CRD templates, values.yaml, values.schema.json) match what `npm run gen` produces', async () => {
    const files = generatedFiles();
    for (const def of KINDS) assert.ok(files.has(`${CHART_DIR}/templates/crd-${def.plural}.yaml`), `no chart template for ${def.kind}`);
    for (const [file, content] of files) {
      assert.equal(await readFile(path.join(root, file), 'utf8'), content, `${file} is stale: run npm run gen`);
    }
  });

  it('the chart CRD templates hold the same CRDs as crds/', async () => {
    for (const def of KINDS) {
      const template = await readFile(path.join(root, CHART_DIR, 'templates', `crd-${def.plural}.yaml`), 'utf8');
      // Without the template lines (labels, keep annotation), what is left is the CRD itself.
      const plain = template
        .split('\n')
        .filter((l) => !l.includes('{{') && !l.includes('helm.sh/resource-policy') && !/^\s+(labels|annotations):$/.test(l))
        .join('\n');
      assert.deepEqual(load(plain), buildCrd(def));
    }
  });

  it("the chart's appVersion is the package version", async () => {
    const chart = load(await readFile(path.join(root, CHART_DIR, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string };
    assert.equal(chart.appVersion, pkg.version);
  });

  it('declares names, scope, subresources and printer columns', () => {
    const crd = buildCrd(KINDS[0]!) as { spec: { scope: string; names: { shortNames: string[]; categories: string[] }; versions: { subresources: object; additionalPrinterColumns: { name: string }[] }[] } };
    assert.equal(crd.spec.scope, 'Cluster');
    assert.deepEqual(crd.spec.names.shortNames, ['lup']);
    assert.deepEqual(crd.spec.names.categories, ['liveupdate']);
    assert.deepEqual(crd.spec.versions[0]!.subresources, { status: {} });
    assert.deepEqual(
      crd.spec.versions[0]!.additionalPrinterColumns.map((c) => c.name),
      ['Phase', 'Done', 'Failed', 'In-Flight', 'Kernel', 'Mode', 'Step', 'Age'],
    );
  });
});
