/**
 * Caps on the connections every listener (HTTP, telnet, RFC 2217) holds, so idle or half-open
 * connections cannot take every file descriptor: at most MAX_CONNECTIONS_PER_ADDRESS from one client
 * address on one listener, and one total shared by all listeners (MAX_CONNECTIONS, lowered at start
 * when RLIMIT_NOFILE leaves less; see fd-budget.ts). A connection over a cap is closed at once.
 *
 *   accept ─> admit(socket) ─┬─ under both caps: counted until it closes
 *                            └─ over one: refuse(socket) (HTTP: a 503 TOO_MANY_CONNECTIONS), destroyed
 */
import type { Socket } from "node:net";
import type { Logger } from "pino";

export const MAX_CONNECTIONS = 1024;
export const MAX_CONNECTIONS_PER_ADDRESS = 64;
/** A refusal is logged at most this often (per listener): a flood must not flood the log. */
const REFUSAL_LOG_EVERY_MS = 10_000;

export type Refusal = "address" | "total";

export class ConnectionLimits {
  private total = 0;

  constructor(
    readonly maxTotal: number = MAX_CONNECTIONS,
    readonly maxPerAddress: number = MAX_CONNECTIONS_PER_ADDRESS,
  ) {}

  get open(): number {
    return this.total;
  }

  /**
   * One listener's gate. `admit` counts a new connection until it closes, or refuses it: `refuse`
   * answers (or not) and the socket is destroyed; false then.
   */
  gate(name: string, log: Logger, refuse: (socket: Socket, why: Refusal) => void = destroy): ListenerGate {
    return new ListenerGate(this, name, log, refuse);
  }

  /** @internal counts for ListenerGate */
  take(): boolean {
    if (this.total >= this.maxTotal) return false;
    this.total += 1;
    return true;
  }

  /** @internal */
  release(): void {
    this.total -= 1;
  }
}

export class ListenerGate {
  private readonly byAddress = new Map<string, number>();
  private refused = 0;
  private lastLogAt = -Infinity;

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly name: string,
    private readonly log: Logger,
    private readonly refuse: (socket: Socket, why: Refusal) => void,
  ) {}

  /** Counts `socket` until it closes; false (and the socket is refused) when over a cap. */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? "local";
    const mine = this.byAddress.get(address) ?? 0;
    const why: Refusal | null =
      mine >= this.limits.maxPerAddress ? "address" : this.limits.take() ? null : "total";
    if (why !== null) {
      this.refused += 1;
      this.logRefusal(address, why);
      socket.on("error", () => socket.destroy());
      this.refuse(socket, why);
      return false;
    }
    this.byAddress.set(address, mine + 1);
    socket.once("close", () => {
      this.limits.release();
      const left = (this.byAddress.get(address) ?? 1) - 1;
      if (left === 0) this.byAddress.delete(address);
      else this.byAddress.set(address, left);
    });
    return true;
  }

  private logRefusal(address: string, why: Refusal): void {
    const now = performance.now();
    if (now - this.lastLogAt < REFUSAL_LOG_EVERY_MS) return;
    this.lastLogAt = now;
    const cap =
      why === "address"
        ? `${this.limits.maxPerAddress} connections from one address`
        : `${this.limits.maxTotal} connections in all`;
    this.log.warn(
      { listener: this.name, client: { address }, refusedSoFar: this.refused },
      `connection refused: over the cap of ${cap}`,
    );
  }
}

function destroy(socket: Socket): void {
  socket.destroy();
}
