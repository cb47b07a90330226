/**
 * The contract of a power channel (QMP, a command, pdudaemon, a Redfish or IPMI BMC): it asks for an action and says what it did.
 * Whether the target really came back is not its business: the caller reads that from the console.
 */
export type PowerAction = "on" | "off" | "cycle" | "reset";

export const POWER_ACTIONS: readonly PowerAction[] = ["on", "off", "cycle", "reset"];

export type PowerChannelKind = "qmp" | "command" | "pdudaemon" | "redfish" | "ipmi";

/** What a channel did: the steps it took, each with what came back (bounded), for the evidence. */
export interface PowerOutcome {
  readonly steps: string[];
  /** QMP: the VM's status after the action (query-status); Redfish: the system's PowerState after off. */
  readonly status?: string;
  /** pdudaemon: what its listener answered (the first REPLY_LIMIT bytes). */
  readonly reply?: string;
  /** A command, ipmitool: its exit status and its output (at most COMMAND_OUTPUT_LIMIT bytes of each stream). */
  readonly exitCode?: number;
  readonly stdout?: string;
  readonly stderr?: string;
}

export interface PowerRun {
  readonly sending?: () => void;
  readonly signal?: AbortSignal;
}

export interface PowerChannel {
  readonly kind: PowerChannelKind;
  /** For capabilities and messages: where the action goes. */
  readonly where: string;
  /** The actions this channel can take (a command channel may name only some). */
  readonly actions: readonly PowerAction[];
  /**
   * Takes the action; rejects with PowerChannelError when the channel refused or failed.
   * `how.sending` is called just before the action leaves (not when the channel refuses before
   * sending anything); an abort of `how.signal` (the daemon stopping) ends it at once: a command's
   * process group is killed.
   */
  run(action: PowerAction, how?: PowerRun): Promise<PowerOutcome>;
}

/**
 * The channel refused or failed; `outcome` holds what it did before that (a command's output).
 * `unsupported`: the far end does not offer the action (a BMC's ResetType list: nothing was sent; an IPMI
 * completion code such as 0xCC: the BMC refused it).
 */
export class PowerChannelError extends Error {
  readonly unsupported: boolean;

  constructor(
    message: string,
    readonly outcome: PowerOutcome,
    options?: { cause?: unknown; unsupported?: boolean },
  ) {
    super(message, options);
    this.name = "PowerChannelError";
    this.unsupported = options?.unsupported ?? false;
  }
}
