// `npm run bench`: every bench at a size that fits a 2-core machine in under 10 minutes, one after another (they would
// only disturb each other's figures side by side), then one table of figure / goal / measured / verdict.
// Usage: npm run bench -- [--nodes 1000] (the scale bench's fleet; 5000 is the issue's size and takes longer to set up)
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatTable, machineLine, type Row } from './report';

/** Set once a signal asked us to stop: no further bench starts. */
let stopping = false;

function runBench(script: string, args: string[], rowsFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register', path.join(__dirname, script), ...args], {
      stdio: 'inherit',
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', BENCH_ROWS: rowsFile },
    });
    const forward = (signal: NodeJS.Signals) => () => {
      stopping = true;
      if (signal !== 'SIGINT') child.kill(signal); // the terminal sends Ctrl-C to the child itself; twice would cut its clean-up
    };
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    child.on('exit', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      if (code === 0) resolve();
      else reject(new Error(`${script} ${args.join(' ')} ended with ${signal ?? `exit status ${code}`}`));
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { nodes: { type: 'string', default: '1000' } } });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-all-'));
  const rowsFile = path.join(dir, 'rows.jsonl');
  const started = performance.now();
  const benches: [string, string[]][] = [
    ['rollout.ts', ['--nodes', '200', '--max-in-flight', '10', '--reboot-seconds', '2']],
    ['agent.ts', ['20']],
    ['scale.ts', ['--nodes', values.nodes, '--idle-seconds', '60', '--churn-seconds', '30']],
  ];
  const failed: string[] = [];
  try {
    for (const [script, args] of benches) {
      if (stopping) break;
      console.log(`\n=== ${script} ${args.join(' ')}`);
      await runBench(script, args, rowsFile).catch((err: Error) => failed.push(err.message));
    }
    const rows = (await readFile(rowsFile, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Row);
    console.log(`\n=== all figures (${((performance.now() - started) / 60_000).toFixed(1)} min)\n${machineLine()}\n`);
    console.log(formatTable(rows));
    for (const f of failed) console.error(`bench failed: ${f}`);
    process.exitCode = failed.length > 0 ? 1 : 0;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
