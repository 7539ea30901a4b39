// What the agent process promises its supervisor (the simulated fleet, a test, a DaemonSet's restart policy).

/** How one run of the agent ended. */
export type AgentExit =
  /** A signal asked it to stop. */
  | { kind: 'stopped' }
  /** The (simulated) kexec happened: the machine is rebooting; start the agent again once it is back. */
  | { kind: 'rebooted' }
  /** The simulated node never came back from kexec (never-returns, panic-on-boot): restarting it is pointless. */
  | { kind: 'node-down'; reason: string }
  /** An injected agent crash (in-process runs; a process run dies by SIGKILL instead). */
  | { kind: 'crashed'; phase: string };

/** Process exit codes of `liveupdate agent`. */
export const AGENT_EXIT_CODE = {
  /** Stopped by a signal, or a simulated kexec ended this "machine": restart with the same arguments. */
  ok: 0,
  error: 1,
  usage: 2,
  /** The simulated node is down for good (NodeLost): do not restart. */
  nodeDown: 3,
} as const;

/** Printed alone on stdout once the agent has published its first status after start: "liveupdate-agent ready <node> <bootID>". */
export const READY_LINE_PREFIX = 'liveupdate-agent ready';
