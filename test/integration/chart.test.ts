// The Helm chart and the plain manifests on a real kube-apiserver of their own (the suite's shared one already holds
// the CRDs, which a chart install must create itself): lint, render, a values-schema refusal naming the path, an
// install whose every object the apiserver accepts, CRDs kept on uninstall, and manifests/install.yaml applied.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { load, loadAll } from 'js-yaml';
import { INSTALL_MANIFEST, INSTALL_RELEASE, renderInstallManifest } from '../../scripts/generate';
import { LocalControlPlane } from '../../src/envtest/control-plane';
import { ControllerMetrics } from '../../src/kube/metrics';
import { RolloutMetrics } from '../../src/operator/metrics';
import { ALL_OPT_INS, CHART, helm, installChart, kubectl, ToolError, uninstallChart } from '../support/helm';

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

const DEFAULT_KINDS = [
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'DaemonSet',
  'Deployment',
  'Role',
  'RoleBinding',
  'Service',
  'ServiceAccount',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
];
const OPT_IN_KINDS = ['ConfigMap', 'PodDisruptionBudget', 'PrometheusRule', 'ServiceMonitor'];

const parse = (text: string): Manifest[] => loadAll(text).filter((d): d is Manifest => typeof d === 'object' && d !== null);
const kinds = (objects: Manifest[]): string[] => [...new Set(objects.map((o) => o.kind))].sort();
const template = async (values: string[] = []): Promise<Manifest[]> =>
  parse(await helm(['template', 'lu', CHART, '--namespace', 'lu-system', ...values.flatMap((v) => ['--set', v])]));

/**
 * The Prometheus Operator's two kinds, reduced to what lets the apiserver store them: the chart test has no
 * prometheus-operator, and the real CRDs are not vendored here.
 */
const monitoringCrds = ['servicemonitors', 'prometheusrules'].map((plural) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.monitoring.coreos.com` },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: { plural, kind: plural === 'servicemonitors' ? 'ServiceMonitor' : 'PrometheusRule' },
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
}));

describe('Helm chart', () => {
  it('passes helm lint with the defaults and with every opt-in', async () => {
    for (const values of [[], ALL_OPT_INS]) {
      const out = await helm(['lint', CHART, '--strict', ...values.flatMap((v) => ['--set', v])]);
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('renders the core objects by default and the opt-ins only when asked', async () => {
    const defaults = await template();
    assert.deepEqual(kinds(defaults), DEFAULT_KINDS);
    const all = await template(ALL_OPT_INS);
    assert.deepEqual(kinds(all), [...DEFAULT_KINDS, ...OPT_IN_KINDS].sort());
    const withoutCrds = await template(['crds.enabled=false', 'agent.enabled=false']);
    assert.ok(!withoutCrds.some((o) => ['CustomResourceDefinition', 'DaemonSet', 'ValidatingAdmissionPolicy'].includes(o.kind)));
  });

  it('keeps the CRDs on uninstall unless crds.keep is false', async () => {
    const keep = (await template()).filter((o) => o.kind === 'CustomResourceDefinition');
    assert.equal(keep.length, 2);
    for (const crd of keep) assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
    const drop = (await template(['crds.keep=false'])).filter((o) => o.kind === 'CustomResourceDefinition');
    for (const crd of drop) assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], undefined);
  });

  it('runs the operator as the issue asks: 2 replicas, leader election, probes, metrics, no privilege', async () => {
    const deployment = (await template()).find((o) => o.kind === 'Deployment')!;
    const spec = deployment.spec as { replicas: number; template: { spec: { securityContext: object; containers: Record<string, unknown>[] } } };
    assert.equal(spec.replicas, 2);
    const [container] = spec.template.spec.containers;
    assert.ok((container!.args as string[]).includes('--leader-elect'));
    assert.ok((container!.args as string[]).includes('--metrics-bind-address=:8080'));
    assert.deepEqual((container!.livenessProbe as { httpGet: object }).httpGet, { path: '/healthz', port: 'health' });
    assert.deepEqual(container!.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    assert.deepEqual(spec.template.spec.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  });

  it('offers OnDelete for the agent DaemonSet', async () => {
    const daemonSet = (await template(['agent.updateStrategy.type=OnDelete', 'agent.updateStrategy.rollingUpdate=null'])).find((o) => o.kind === 'DaemonSet')!;
    assert.deepEqual(daemonSet.spec?.updateStrategy, { type: 'OnDelete' });
  });

  it('refuses a bad value through values.schema.json, naming its path', async () => {
    const cases: [string[], RegExp][] = [
      [['operator.replicas=two'], /at '\/operator\/replicas': got string, want integer/],
      [['agent.capabilities={NET_ADMIN}'], /at '\/agent\/capabilities\/0'/],
      [['operator.metricsPort=70000'], /at '\/operator\/metricsPort'/],
      [['crds.keeep=true'], /at '\/crds': additional properties 'keeep' not allowed/],
    ];
    for (const [values, expected] of cases) {
      const err = await installChart('bad-values', 'bad-values', values).then(
        () => assert.fail(`helm install accepted ${values.join(' ')}`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ToolError, String(err));
      assert.match(err.stderr, expected);
    }
  });

  it('alerts and the dashboard use only metrics the operator exports', async () => {
    const metrics = new ControllerMetrics();
    new RolloutMetrics(metrics.registry);
    const exported = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    const all = await template(ALL_OPT_INS);
    const rule = all.find((o) => o.kind === 'PrometheusRule')!;
    const rules = (rule.spec as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap((g) => g.rules);
    assert.deepEqual(
      rules.map((r) => r.alert),
      ['LiveUpdatePlanHalted', 'LiveUpdateNodeFailedAfterPointOfNoReturn', 'LiveUpdateNodeHeldTooLong', 'LiveUpdateDMALost'],
    );
    const dashboard = JSON.parse(Object.values(all.find((o) => o.kind === 'ConfigMap')!.data!)[0]!) as { panels: { title: string; targets: { expr: string }[] }[] };
    const exprs = [...rules.map((r) => r.expr), ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))];
    const used = new Set(exprs.flatMap((e) => e.match(/\b(liveupdate|controller_runtime|workqueue|leader_election)_[a-z_]+/g) ?? []).map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    assert.ok(used.has('liveupdate_handoff_seconds') && used.has('liveupdate_failures_total'));
    for (const name of used) assert.ok(exported.has(name), `${name} is not a metric the operator exports`);
  });

  describe('installed on a real apiserver', () => {
    let plane: LocalControlPlane;
    let dir: string;
    let kubeconfig: string;

    before(async () => {
      plane = await LocalControlPlane.start();
      dir = await mkdtemp(path.join(os.tmpdir(), 'liveupdate-chart-test-'));
      kubeconfig = path.join(dir, 'admin.kubeconfig');
      await writeFile(kubeconfig, plane.kubeconfig());
      await writeFile(path.join(dir, 'monitoring-crds.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: monitoringCrds }));
      await kubectl(['apply', '-f', path.join(dir, 'monitoring-crds.json')], { kubeconfig });
      await kubectl(['wait', '--for=condition=Established', '--timeout=30s', ...monitoringCrds.map((c) => `crd/${c.metadata.name}`)], { kubeconfig });
    });
    after(async () => {
      await plane?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('helm install creates every object, with every opt-in on, and uninstall keeps the CRDs', async () => {
      await installChart('lu', 'lu-system', ALL_OPT_INS, kubeconfig);
      const manifest = parse(await helm(['get', 'manifest', 'lu', '--namespace', 'lu-system'], kubeconfig));
      assert.deepEqual(kinds(manifest), [...DEFAULT_KINDS, ...OPT_IN_KINDS].sort());
      const stored = (await kubectl(['get', '-f', '-', '-o', 'name'], { kubeconfig, input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifest }) }))
        .trim()
        .split('\n');
      assert.equal(stored.length, manifest.length, `stored: ${stored.join(', ')}`);
      assert.ok(stored.includes('deployment.apps/lu-liveupdate-operator'), stored.join(', '));

      await uninstallChart('lu', 'lu-system', kubeconfig);
      const left = (await kubectl(['get', 'crd', '-o', 'name'], { kubeconfig })).trim().split('\n');
      assert.ok(left.includes('customresourcedefinition.apiextensions.k8s.io/liveupdateplans.liveupdate.dev'), left.join(', '));
      await assert.rejects(kubectl(['get', 'deployment', 'lu-liveupdate-operator', '--namespace', 'lu-system'], { kubeconfig }), /NotFound/);
    });

    it('the apiserver also accepts the alternative agent settings (privileged, Localhost seccomp, OnDelete)', async () => {
      const values = [
        'agent.privileged=true',
        'agent.seccompProfile.type=Localhost',
        'agent.seccompProfile.localhostProfile=profiles/liveupdate-agent.json',
        'agent.updateStrategy.type=OnDelete',
        'agent.updateStrategy.rollingUpdate=null',
        'agent.capabilities={SYS_BOOT,SYS_PTRACE}',
      ];
      const rendered = (await template(values)).filter((o) => o.kind === 'DaemonSet');
      const out = await kubectl(['apply', '--dry-run=server', '-f', '-'], { kubeconfig, input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rendered }) });
      assert.match(out, /daemonset\.apps\/lu-liveupdate-operator-agent created \(server dry run\)/);
    });

    it(`${INSTALL_MANIFEST} is the chart rendered with its defaults and applies with kubectl`, async () => {
      const committed = await readFile(path.resolve(__dirname, '../..', INSTALL_MANIFEST), 'utf8');
      const helmPath = path.join(process.env.LIVEUPDATE_TEST_BIN_DIR ?? '', 'helm');
      assert.equal(committed, await renderInstallManifest(helmPath), `${INSTALL_MANIFEST} is stale: run npm run gen`);

      const file = path.resolve(__dirname, '../..', INSTALL_MANIFEST);
      await kubectl(['apply', '-f', file], { kubeconfig });
      const objects = parse(committed);
      const stored = (await kubectl(['get', '-f', file, '-o', 'name'], { kubeconfig })).trim().split('\n');
      assert.equal(stored.length, objects.length);
      const deployment = load(await kubectl(['get', 'deployment', INSTALL_RELEASE.name, '--namespace', INSTALL_RELEASE.namespace, '-o', 'yaml'], { kubeconfig })) as Manifest;
      assert.equal(deployment.metadata.namespace, INSTALL_RELEASE.namespace);
    });
  });
});
