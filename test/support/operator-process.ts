// `liveupdate operator` as its own OS process, as a Deployment runs it.
import { CliProcess } from './children';

export class OperatorProcess extends CliProcess {
  constructor(kubeconfig: string, extraArgs: string[] = [], env: Record<string, string> = {}, entry?: string[]) {
    const args = ['operator', '--kubeconfig', kubeconfig, '--metrics-bind-address', '0', '--health-probe-bind-address', '0', ...extraArgs];
    super(args, { LOG_LEVEL: process.env.OPERATOR_LOG_LEVEL ?? 'info', ...env }, 'ignore', entry);
  }
}
