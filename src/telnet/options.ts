/**
 * Telnet option negotiation, the one state machine for both ends (RFC 854; RFC 1143's rule in short):
 * per option, whether we perform it (local) and whether the peer does (remote). An option outside the
 * allowed sets is refused; an allowed one is agreed to once; an answer goes out only when the state
 * changes, so two peers with the same rule never loop.
 *
 *   client (transports/telnet.ts): TelnetOptions.client(), offer() what it asks to perform
 *   server (export/): opening() offers every local option (IAC WILL) and asks for some (IAC DO)
 */
import {
  DO,
  DONT,
  OPT_BINARY,
  OPT_ECHO,
  OPT_SGA,
  WILL,
  WONT,
  negotiationBytes,
  type Negotiation,
} from "./codec.js";

export class TelnetOptions {
  private readonly local: ReadonlySet<number>;
  private readonly remote: ReadonlySet<number>;
  private readonly localEnabled = new Set<number>();
  private readonly remoteEnabled = new Set<number>();

  /**
   * @param local options this side agrees to perform (a server: ECHO, SGA, BINARY), offered in this order
   * @param remote options the peer may perform (BINARY, SGA, COM-PORT-OPTION; a client: the server's ECHO)
   */
  constructor(local: Iterable<number>, remote: Iterable<number>) {
    this.local = new Set(local);
    this.remote = new Set(remote);
  }

  /**
   * A client of a terminal server: accept BINARY, SGA and the server's ECHO (so the far end behaves as
   * a raw line), perform BINARY and SGA; refuse everything else.
   * @param extraLocal options this side also agrees to perform (RFC 2217's COM-PORT-OPTION)
   */
  static client(extraLocal: readonly number[] = []): TelnetOptions {
    return new TelnetOptions([OPT_BINARY, OPT_SGA, ...extraLocal], [OPT_BINARY, OPT_SGA, OPT_ECHO]);
  }

  /** Offers an option of ours (IAC WILL); the peer's DO then needs no answer. */
  offer(option: number): Buffer {
    this.localEnabled.add(option);
    return negotiationBytes(WILL, option);
  }

  /** Asks the peer to perform an option (IAC DO); its WILL then needs no answer. */
  request(option: number): Buffer {
    this.remoteEnabled.add(option);
    return negotiationBytes(DO, option);
  }

  /** A server's opening: IAC WILL for each local option, then IAC DO for each of `request`. */
  opening(request: readonly number[] = []): Buffer {
    const offers = [...this.local].map((option) => this.offer(option));
    return Buffer.concat([...offers, ...request.map((option) => this.request(option))]);
  }

  /** The answer to the peer's IAC WILL/WONT/DO/DONT, or null when none is due. */
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
