/**
 * The server's side of telnet option negotiation (RFC 854 / RFC 1143 in short): the options we
 * perform are offered up front (IAC WILL), the options we let the client perform are accepted (IAC DO);
 * everything else is refused. Answers only when an option's state changes, so no loop can start.
 */
import { DO, DONT, WILL, WONT, negotiationBytes, type Negotiation } from "./codec.js";

export class ServerNegotiation {
  private readonly localEnabled = new Set<number>();
  private readonly remoteEnabled = new Set<number>();

  /**
   * @param local options this server performs (ECHO, SGA, BINARY)
   * @param remote options the client may perform (BINARY, SGA, COM-PORT-OPTION)
   */
  constructor(
    private readonly local: ReadonlySet<number>,
    private readonly remote: ReadonlySet<number>,
  ) {}

  /** The opening: IAC WILL for each local option, IAC DO for each of `request`. */
  opening(request: readonly number[] = []): Buffer {
    const offers = [...this.local].map((option) => {
      this.localEnabled.add(option);
      return negotiationBytes(WILL, option);
    });
    const asks = request.map((option) => {
      this.remoteEnabled.add(option);
      return negotiationBytes(DO, option);
    });
    return Buffer.concat([...offers, ...asks]);
  }

  remoteHas(option: number): boolean {
    return this.remoteEnabled.has(option);
  }

  answer(verb: Negotiation, option: number): Buffer | null {
    switch (verb) {
      case WILL:
        if (!this.remote.has(option)) return negotiationBytes(DONT, option);
        if (this.remoteEnabled.has(option)) return null;
        this.remoteEnabled.add(option);
        return negotiationBytes(DO, option);
      case WONT:
        if (!this.remoteEnabled.delete(option)) return null;
        return negotiationBytes(DONT, option);
      case DO:
        if (!this.local.has(option)) return negotiationBytes(WONT, option);
        if (this.localEnabled.has(option)) return null;
        this.localEnabled.add(option);
        return negotiationBytes(WILL, option);
      case DONT:
        if (!this.localEnabled.delete(option)) return null;
        return negotiationBytes(WONT, option);
    }
  }
}
