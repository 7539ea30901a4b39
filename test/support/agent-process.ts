// One `liveupdate agent --host sim` process, as a supervisor runs it: its ready line, its exit, a way to kill it.
import { createInterface } from 'node:readline';
import { READY_LINE_PREFIX } from '../../src/agent/contract';
import { CliProcess } from './children';

export interface SimAgentPaths {
  simDir: string;
  stateDir: string;
  imageDir: string;
}

export class AgentProcess extends CliProcess {
  readonly ready: Promise<string>;

  constructor(kubeconfig: string, node: string, paths: SimAgentPaths, faults?: string, extraArgs: string[] = [], logLevel = 'warn') {
    const args = ['agent', '--node', node, '--host', 'sim', '--sim-dir', paths.simDir, '--state-dir', paths.stateDir, '--image-dir', paths.imageDir, '--kubeconfig', kubeconfig];
    if (faults) args.push('--faults', faults);
    super([...args, ...extraArgs], { LOG_LEVEL: logLevel }, 'pipe');
    this.ready = new Promise((resolve, reject) => {
      createInterface({ input: this.child.stdout! }).on('line', (line) => {
        if (line.startsWith(`${READY_LINE_PREFIX} ${node} `)) resolve(line.split(' ').pop()!);
      });
      void this.exit.then(({ code, signal }) => reject(new Error(`agent ${node} exited (${code ?? signal}) before it was ready:\n${this.log}`)));
    });
    this.ready.catch(() => undefined);
  }
}
