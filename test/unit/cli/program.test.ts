// The one command tree, through its two real entry points: help and usage errors, exit statuses, and commands that
// load only their own code (host inspect never loads the Kubernetes client).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path, { join } from 'node:path';
import { describe, it } from 'node:test';

const REPO = join(__dirname, '../../..');

function run(entry: 'main' | 'kubectl-liveupdate', args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['-r', 'ts-node/register', `src/cli/${entry}.ts`, ...args], { cwd: REPO, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    );
  });
}

/** Runs the tree in a fresh process and reports whether @kubernetes/client-node was loaded by the time it ended. */
function loadsKubeClient(...args: string[]): Promise<boolean> {
  const script = `
    const { buildProgram, runProgram } = require('./src/cli/program');
    runProgram(buildProgram('liveupdate'), ${JSON.stringify(args)}).then(() => {
      const loaded = Object.keys(require.cache).some((m) => m.includes('@kubernetes/client-node'));
      process.stdout.write(JSON.stringify({ loaded }));
      process.exitCode = 0;
    });`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-r', 'ts-node/register', '-e', script], { cwd: REPO, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } }, (err, stdout) => {
      if (err) reject(new Error(`the tree failed to run: ${err.message}`));
      else resolve((JSON.parse(stdout) as { loaded: boolean }).loaded);
    });
  });
}

describe('command tree', () => {
  it('both entries serve every command; help exits 0 under the name the user typed', async () => {
    const plugin = await run('kubectl-liveupdate', ['--help']);
    assert.equal(plugin.code, 0);
    assert.match(plugin.stdout, /^Usage: kubectl liveupdate /);
    const main = await run('main', ['--help']);
    assert.equal(main.code, 0);
    assert.match(main.stdout, /^Usage: liveupdate /);
    for (const verb of ['status', 'nodes', 'pause', 'resume', 'approve', 'abort', 'preview', 'operator', 'agent', 'demo', 'control-plane', 'host', 'sim']) {
      assert.match(plugin.stdout, new RegExp(`^ {2}${verb} `, 'm'), `kubectl liveupdate --help lists ${verb}`);
      assert.match(main.stdout, new RegExp(`^ {2}${verb} `, 'm'), `liveupdate --help lists ${verb}`);
    }
    const status = await run('kubectl-liveupdate', ['status', '--help']);
    assert.equal(status.code, 0);
    assert.match(status.stdout, /^Usage: kubectl liveupdate status \[options\] <plan>/);
    assert.match(status.stdout, /--kubeconfig <file>/);
    assert.match(status.stdout, /--context <name>/);
  });

  it('usage errors exit 2 naming the command and what is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [[], /^Usage: kubectl liveupdate/m],
      [['status'], /^kubectl liveupdate status: Missing required argument 'plan'/m],
      [['status', 'p', '-o', 'xml'], /^kubectl liveupdate status: Option '-o, --output <format>' argument 'xml' is invalid\. Allowed choices are json, yaml\./m],
      [['status', 'p', '--watch', '--timeout', 'soon'], /^kubectl liveupdate: --timeout: "soon" is not a duration/m],
      [['pause', 'a', 'b'], /^kubectl liveupdate pause: Too many arguments/m],
      [['frobnicate'], /^kubectl liveupdate: Unknown command 'frobnicate'/m],
      [['sim', 'fleet', '--frobnicate'], /^kubectl liveupdate sim fleet: Unknown option '--frobnicate'/m],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await run('kubectl-liveupdate', args);
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, message, args.join(' '));
    }
  });

  it('a missing kubeconfig or an unreachable apiserver is named, with the context (exit 1)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'plugin-cli-'));
    try {
      const kubeconfig = path.join(dir, 'config');
      await writeFile(
        kubeconfig,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
          users: [{ name: 'u', user: { token: 't' } }],
          contexts: [{ name: 'lab', context: { cluster: 'c', user: 'u' } }],
          'current-context': 'lab',
        }),
      );
      const cases: [string[], Record<string, string>, RegExp][] = [
        [['status', 'p', '--kubeconfig', kubeconfig], {}, /^kubectl liveupdate: cannot reach the apiserver https:\/\/127\.0\.0\.1:1 of context "lab": fetch failed/m],
        [['nodes', '--kubeconfig', path.join(dir, 'missing')], {}, /^kubectl liveupdate: --kubeconfig .*missing: ENOENT/m],
        [['nodes'], { HOME: dir, KUBECONFIG: '' }, /^kubectl liveupdate: no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or create ~\/\.kube\/config$/m],
      ];
      for (const [args, env, message] of cases) {
        const { code, stderr } = await run('kubectl-liveupdate', args, env);
        assert.equal(code, 1, `${args.join(' ')}: ${stderr}`);
        assert.match(stderr, message);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('host inspect loads no Kubernetes client; status does', async () => {
    assert.equal(await loadsKubeClient('host', 'inspect', '--sysfs-root', join(REPO, 'no-such-dir'), '--proc-root', join(REPO, 'no-such-dir')), false);
    assert.equal(await loadsKubeClient('status', 'p', '--kubeconfig', join(REPO, 'no-such-kubeconfig')), true);
  });
});
