// What the simulated fleet plays of the kubelet, as pure functions: the node's life as its agent's runs show it, the
// Ready condition that life implies, and whether (and how soon) an ended agent run is started again.
import type { AgentExit } from '../agent/contract';
import { conditionTime } from '../kube/conditions';

/** How one supervised agent run ended: the contract's exits, or a failure the contract does not name (exit 1, …). */
export type RunExit = AgentExit | { kind: 'failed'; detail: string };

export type NodeLife =
  /** First agent run of this fleet, no ready line yet. */
  | { phase: 'starting' }
  | { phase: 'up'; bootId: string }
  /** Kexec'd: from the agent's exit until the restarted agent's ready line. */
  | { phase: 'rebooting' }
  /** Never came back from a kexec: its agent is not restarted. */
  | { phase: 'down'; reason: string };

export type LifeEvent = { type: 'ready'; bootId: string } | { type: 'exit'; exit: RunExit };

/**
 * The next life. A crashed or failed agent leaves the node as it was: the machine is still up, only one of its pods
 * restarts, and a kubelet keeps posting Ready meanwhile.
 */
export function nextLife(life: NodeLife, event: LifeEvent): NodeLife {
  if (life.phase === 'down') return life;
  if (event.type === 'ready') return { phase: 'up', bootId: event.bootId };
  switch (event.exit.kind) {
    case 'rebooted':
      return { phase: 'rebooting' };
    case 'node-down':
      return { phase: 'down', reason: event.exit.reason };
    default:
      return life;
  }
}

export interface ReadyState {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** The kubelet's wording for up; the node lifecycle controller's for a node that stopped reporting. */
export function readyState(life: NodeLife): ReadyState {
  switch (life.phase) {
    case 'starting':
      return { status: 'False', reason: 'AgentStarting', message: 'simulated node booting: its liveupdate agent has not reported ready yet' };
    case 'up':
      return { status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' };
    case 'rebooting':
      return { status: 'False', reason: 'KernelRebooting', message: 'kexec into the next kernel: the node is rebooting' };
    case 'down':
      return { status: 'Unknown', reason: 'NodeStatusUnknown', message: `Kubelet stopped posting node status (simulated node down: ${life.reason}).` };
  }
}

/** A Node's Ready condition as the apiserver stores it (RFC 3339 times to the second). */
export interface ReadyCondition extends ReadyState {
  type: 'Ready';
  lastHeartbeatTime: string;
  lastTransitionTime: string;
}

/**
 * The condition to write for `state`, or undefined when `previous` already says it: the fleet writes only on change,
 * never a periodic heartbeat (5 000 nodes heartbeating would dominate the API load). lastTransitionTime moves only
 * when the status flips.
 */
export function readyTransition(previous: ReadyCondition | undefined, state: ReadyState, now: Date): ReadyCondition | undefined {
  if (previous && previous.status === state.status && previous.reason === state.reason && previous.message === state.message) return undefined;
  const time = conditionTime(now);
  return { type: 'Ready', ...state, lastHeartbeatTime: time, lastTransitionTime: previous?.status === state.status ? previous.lastTransitionTime : time };
}

/**
 * When an ended run starts again. after-boot: the simulated boot time after a kexec. now: an injected crash (the
 * process died, the machine did not), unless the last run also died before its ready line: then, like a failure,
 * the capped backoff (a crash loop must not spin). never: the node is down, or the fleet asked it to stop.
 */
export type Restart = 'never' | 'now' | 'after-boot' | 'backoff';

export function restartPolicy(exit: RunExit, failuresSinceReady: number): Restart {
  switch (exit.kind) {
    case 'rebooted':
      return 'after-boot';
    case 'crashed':
      return failuresSinceReady <= 1 ? 'now' : 'backoff';
    case 'failed':
      return 'backoff';
    case 'node-down':
    case 'stopped':
      return 'never';
  }
}
