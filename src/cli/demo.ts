// `liveupdate demo`: the whole system on this machine, one command (src/demo/run.ts).
import path from 'node:path';
import { plainDisplay, terminalDisplay } from '../demo/display';
import { FAULT_ARGS, parseFaultFlag } from '../demo/faults';
import { runDemo } from '../demo/run';
import { newRunDir, pruneRuns } from '../demo/runs';
import { packageRoot } from '../util/package-root';
import { parseOptions, UsageError } from './usage';

const ROOT = packageRoot();

const HELP = `usage: liveupdate demo [--nodes N] [--fault NODE:KIND[:ARG]]... [--keep] [--json FILE]
                       [--dir DIR] [--kubeconfig FILE] [--approve-after S] [--timeout S]

Starts kube-apiserver + etcd with the CRDs, the operator (its own process), a simulated fleet of N nodes (default 8:
gpu8, nvme-sriov, mixed-switch and hosts without passthrough devices, round robin; one agent process per node), and
applies plan \`demo-rollout\`: every node to 6.19.4-lu2, a canary of one node that pauses for approval, then 100%,
maxInFlight 2, DMA preservation required, nodes without passthrough devices live-updated too, halt on the first
failure. The demo approves the canary itself after --approve-after seconds (default 3), as
\`kubectl liveupdate approve\` would. It shows the plan and a node table live, then a summary per node, and exits 0
when the outcome is the one the plan prescribes.

  --nodes N          fleet size (default 8)
  --fault NODE:KIND[:ARG]
                     inject a simulator fault; NODE is a position in the fleet (2 = sim-node-02) or a node name.
                     The demo then expects the cancel or halt the plan's policy prescribes. KIND and ARG:
${Object.entries(FAULT_ARGS)
  .map(([kind, arg]) => `                       ${kind.padEnd(26)} ${arg}`)
  .join('\n')}
  --keep             stay up after the summary (kubectl get lup,lun -w works against it) until Ctrl-C
  --json FILE        write the final summary as JSON
  --dir DIR          run directory: logs, the simulated fleet, the pids started (default .cache/demo/<time>)
  --kubeconfig FILE  where to write the kubeconfig (default .cache/kubeconfig)
  --approve-after S  wait S seconds in a pause before approving it (default 3)
  --timeout S        give up if the plan has not ended after S seconds (default 300)

Ctrl-C, SIGTERM, SIGHUP, or the end of its parent process stop everything it started.
`;

function seconds(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`demo: ${flag} must be a number of seconds >= 0, got "${value}"`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseOptions({
    args: argv,
    options: {
      nodes: { type: 'string', default: '8' },
      fault: { type: 'string', multiple: true, default: [] },
      keep: { type: 'boolean', default: false },
      json: { type: 'string' },
      dir: { type: 'string' },
      kubeconfig: { type: 'string', default: path.join(ROOT, '.cache', 'kubeconfig') },
      'approve-after': { type: 'string', default: '3' },
      timeout: { type: 'string', default: '300' },
      crds: { type: 'string', default: path.join(ROOT, 'crds') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!/^\d+$/.test(values.nodes) || Number(values.nodes) < 1) throw new UsageError(`demo: --nodes must be a whole number >= 1, got "${values.nodes}"`);
  const faults = values.fault.map(parseFaultFlag);
  // A closed terminal (SIGHUP) makes writes fail: the demo must still stop what it started.
  process.stdout.on('error', () => undefined);
  // A terminal of no width (some pseudo-terminals) would wrap every character: plain lines there too.
  const tty = process.stdout.isTTY === true && process.stdout.columns > 0;
  const runs = path.join(ROOT, '.cache', 'demo');
  if (!values.dir) await pruneRuns(runs);
  return runDemo({
    nodes: Number(values.nodes),
    faults,
    keep: values.keep,
    json: values.json && path.resolve(values.json),
    dir: values.dir ?? newRunDir(runs),
    kubeconfig: path.resolve(values.kubeconfig),
    crdDir: values.crds,
    approveAfterMs: seconds('--approve-after', values['approve-after']) * 1000,
    timeoutMs: seconds('--timeout', values.timeout) * 1000,
    display: tty ? terminalDisplay(process.stdout) : plainDisplay((text) => process.stdout.write(text)),
  });
}
