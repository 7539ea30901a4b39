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
import { PlanPhase } from '../../src/api/plan';
import { PLAN_NODE_STATES, RolloutMetrics } from '../../src/operator/metrics';
import { CliProcess } from '../support/children';
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
    assert.ok(!withoutCrds.some((o) => ['CustomResourceDefinition', 'DaemonSet'].includes(o.kind)));
    // Without agents only the plan policy is left.
    assert.deepEqual(withoutCrds.filter((o) => o.kind === 'ValidatingAdmissionPolicy').map((o) => o.metadata.name), ['lu-liveupdate-operator-plan-cmdline']);
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

  it('alerts and panels select only label values the operator exports, and the leader of our operator only (issue 18 items 23, 27)', async () => {
    const all = await template(ALL_OPT_INS);
    const rule = all.find((o) => o.kind === 'PrometheusRule')!;
    const dashboard = JSON.parse(Object.values(all.find((o) => o.kind === 'ConfigMap')!.data!)[0]!) as { panels: { title: string; targets: { expr: string }[] }[] };
    const exprs = [
      ...(rule.spec as { groups: { rules: { expr: string }[] }[] }).groups.flatMap((g) => g.rules.map((r) => r.expr)),
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
    ];
    const labelValues: Record<string, readonly string[]> = { liveupdate_plan_nodes: PLAN_NODE_STATES, liveupdate_plan_phase: PlanPhase.options };
    const wrong: string[] = [];
    for (const expr of exprs)
      for (const [, metric, matchers] of expr.matchAll(/\b(liveupdate_plan_nodes|liveupdate_plan_phase)\{([^}]*)\}/g))
        for (const [, , value] of matchers!.matchAll(/\bphase\s*(=~|!=|=)\s*"([^"]*)"/g))
          for (const v of value!.split('|')) if (!labelValues[metric!]!.includes(v)) wrong.push(`${metric}{phase="${v}"} in ${expr}`);
    assert.deepEqual(wrong, [], 'label values no series carries');
    // Every controller-runtime operator exports leader_election_master_status: only ours also exports liveupdate_*.
    const leader = exprs.filter((e) => e.includes('leader_election_master_status'));
    assert.ok(leader.length > 0);
    for (const expr of leader) assert.match(expr, /leader_election_master_status and on \(instance, job\) liveupdate_failures_total/, expr);
  });

  it('spreads the operator replicas over nodes unless told otherwise (issue 18 item 26)', async () => {
    type PodSpec = { affinity?: { podAntiAffinity?: { preferredDuringSchedulingIgnoredDuringExecution?: unknown[] }; nodeAffinity?: object } };
    const podSpec = async (values: string[] = []) => ((await template(values)).find((o) => o.kind === 'Deployment')!.spec as { template: { spec: PodSpec } }).template.spec;
    const spread = {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: {
            topologyKey: 'kubernetes.io/hostname',
            labelSelector: { matchLabels: { 'app.kubernetes.io/component': 'operator', 'app.kubernetes.io/instance': 'lu', 'app.kubernetes.io/name': 'liveupdate-operator' } },
          },
        },
      ],
    };
    assert.deepEqual((await podSpec()).affinity, { podAntiAffinity: spread });
    const withNodeAffinity = await podSpec(['operator.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight=1',
      'operator.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].key=infra',
      'operator.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].operator=Exists']);
    assert.deepEqual(withNodeAffinity.affinity?.podAntiAffinity, spread, 'a node affinity keeps the spread');
    assert.ok(withNodeAffinity.affinity?.nodeAffinity);
    const own = await podSpec(['operator.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey=topology.kubernetes.io/zone']);
    assert.deepEqual(own.affinity?.podAntiAffinity, { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'topology.kubernetes.io/zone' }] }, "the user's own podAntiAffinity wins");
  });

  it('refuses a PodDisruptionBudget that would block every eviction, and lets unhealthy replicas go (issue 18 item 26)', async () => {
    const pdb = (await template(['podDisruptionBudget.enabled=true'])).find((o) => o.kind === 'PodDisruptionBudget')!;
    assert.deepEqual(pdb.spec?.unhealthyPodEvictionPolicy, 'AlwaysAllow');
    assert.equal(pdb.spec?.minAvailable, 1);
    for (const values of [['operator.replicas=1'], ['podDisruptionBudget.minAvailable=2']]) {
      const err = await template(['podDisruptionBudget.enabled=true', 'operator.leaderElection.enabled=true', ...values]).then(
        () => assert.fail(`rendered a blocking budget with ${values.join(' ')}`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ToolError, String(err));
      assert.match(err.stderr, /podDisruptionBudget\.minAvailable \(\d\) must be below operator\.replicas \(\d\): such a budget blocks every eviction/);
    }
    assert.ok((await template(['podDisruptionBudget.enabled=true', 'operator.replicas=1', 'podDisruptionBudget.minAvailable=0'])).some((o) => o.kind === 'PodDisruptionBudget'));
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

  describe('onto a cluster that already has the CRDs (issue 18 item 28)', () => {
    let dir: string;
    let kubeconfig: string;
    let plane: ControlPlaneCli;

    /** `liveupdate control-plane --no-crds` as a user runs it; resolves once it printed that it is ready. */
    class ControlPlaneCli extends CliProcess {
      readonly ready = new Promise<string>((resolve, reject) => {
        let out = '';
        this.child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('Press Ctrl-C')) resolve(out);
        });
        void this.exit.then(({ code }) => reject(new Error(`liveupdate control-plane exited (${code}) before it was ready: ${this.log}`)));
      });
    }

    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'liveupdate-chart-crds-'));
      kubeconfig = path.join(dir, 'kubeconfig');
      plane = new ControlPlaneCli(['control-plane', '--no-crds', '--kubeconfig', kubeconfig], {}, 'pipe');
    });
    after(async () => {
      await plane?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('`liveupdate control-plane --no-crds` starts without CRDs; with them applied, crds.enabled=false installs, and labelled and annotated CRDs are adopted', async () => {
      assert.match(await plane.ready, /no CRDs: the chart installs its own[\s\S]*helm install liveupdate/);
      assert.equal((await kubectl(['get', 'crd', '-o', 'name'], { kubeconfig })).trim(), '', '--no-crds installs none');

      // The CRDs applied by hand (from crds/, as `liveupdate control-plane` without --no-crds does).
      await kubectl(['apply', '-f', path.resolve(__dirname, '../../crds')], { kubeconfig });
      const refused = await installChart('lu', 'lu-system', [], kubeconfig).then(
        () => assert.fail('helm install took over CRDs it did not create'),
        (e: unknown) => e,
      );
      assert.ok(refused instanceof ToolError, String(refused));
      assert.match(refused.stderr, /CustomResourceDefinition "liveupdate[a-z]+\.liveupdate\.dev" in namespace "" exists and cannot be imported into the current release: invalid ownership metadata/);

      // README: keep the CRDs you have…
      await installChart('lu', 'lu-system', ['crds.enabled=false'], kubeconfig);
      await uninstallChart('lu', 'lu-system', kubeconfig);
      // …or hand them to Helm, and the chart adopts and manages them.
      for (const crd of ['liveupdateplans.liveupdate.dev', 'liveupdatenodes.liveupdate.dev']) {
        await kubectl(['label', 'crd', crd, 'app.kubernetes.io/managed-by=Helm'], { kubeconfig });
        await kubectl(['annotate', 'crd', crd, 'meta.helm.sh/release-name=lu', 'meta.helm.sh/release-namespace=lu-system'], { kubeconfig });
      }
      await installChart('lu', 'lu-system', [], kubeconfig);
      const manifest = parse(await helm(['get', 'manifest', 'lu', '--namespace', 'lu-system'], kubeconfig));
      assert.equal(manifest.filter((o) => o.kind === 'CustomResourceDefinition').length, 2, 'the release owns the CRDs');
    });
  });
});
