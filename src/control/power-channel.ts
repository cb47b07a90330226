/**
 * The contract of a power channel (QMP, a command): it asks for an action and says what it did.
 * Whether the target really came back is not its business: the caller reads that from the console.
 */
export type PowerAction = "on" | "off" | "cycle" | "reset";

export const POWER_ACTIONS: readonly PowerAction[] = ["on", "off", "cycle", "reset"];

/** What a channel did: the steps it took, each with what came back (bounded), for the evidence. */
export interface PowerOutcome {
  readonly steps: string[];
  /** QMP: the VM's status after the action (query-status), when asked. */
  readonly status?: string;
  /** A command: its exit status and its output (at most COMMAND_OUTPUT_LIMIT bytes of each stream). */
  readonly exitCode?: number;
  readonly stdout?: string;
  readonly stderr?: string;
}

export interface PowerChannel {
  readonly kind: "qmp" | "command";
  /** For capabilities and messages: where the action goes. */
  readonly where: string;
  /** The actions this channel can take (a command channel may name only some). */
  readonly actions: readonly PowerAction[];
  /**
   * Takes the action; rejects with PowerChannelError when the channel refused or failed. An abort of
   * `signal` (the daemon stopping) ends it at once: a command's process group is killed.
   */
  run(action: PowerAction, signal?: AbortSignal): Promise<PowerOutcome>;
}

/** The channel refused or failed; `outcome` holds what it did before that (a command's output). */
export class PowerChannelError extends Error {
  constructor(
    message: string,
    readonly outcome: PowerOutcome,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "PowerChannelError";
  }
}
