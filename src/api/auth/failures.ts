/**
 * Failed authentications per client address: after `limit` in `windowMs` (config rateLimit.authFailures,
 * default 10, and rateLimit.timeWindowMs, default 60 s) the address gets 429
 * RATE_LIMITED (with Retry-After) on every route that needs a token, valid token or not, until its
 * window ends, so a guesser cannot keep trying and a flood cannot fill the log. The log gets the
 * first failure of each window and one line when an address is blocked, not a warning per failure.
 */
import type { FastifyBaseLogger } from "fastify";

/** Addresses tracked at most; expired windows are swept when this is reached. */
const MAX_TRACKED = 10_000;

interface Episode {
  readonly start: number;
  failures: number;
}

export class AuthFailures {
  private readonly episodes = new Map<string, Episode>();

  constructor(
    private readonly log: FastifyBaseLogger,
    private limit: number,
    private windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A reload's limits; windows already open keep their start. */
  configure(limit: number, windowMs: number): void {
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** How long `client` must wait before it may present a token again; 0 when it may now. */
  blockedForMs(client: string): number {
    const episode = this.current(client);
    if (episode === undefined || episode.failures < this.limit) return 0;
    return episode.start + this.windowMs - this.now();
  }

  /** A token check for `client` (the console WebSocket's): null while blocked or when it fails. */
  verify<T>(client: string, check: () => T | null): T | null {
    if (this.blockedForMs(client) > 0) return null;
    const result = check();
    if (result === null) this.failed(client);
    return result;
  }

  /** Counts a failed authentication from `client`, logging the first of a window and the block. */
  failed(client: string): void {
    let episode = this.current(client);
    if (episode === undefined) {
      if (this.episodes.size >= MAX_TRACKED) this.sweep();
      episode = { start: this.now(), failures: 0 };
      this.episodes.set(client, episode);
    }
    episode.failures += 1;
    if (episode.failures === 1) {
      this.log.warn({ client }, "request without a valid token refused");
    } else if (episode.failures === this.limit) {
      this.log.warn(
        { client, failures: episode.failures, blockedMs: episode.start + this.windowMs - this.now() },
        "too many failed authentications: this address is refused until its window ends",
      );
    } else {
      this.log.debug({ client, failures: episode.failures }, "request without a valid token refused");
    }
  }

  private current(client: string): Episode | undefined {
    const episode = this.episodes.get(client);
    if (episode !== undefined && this.now() - episode.start >= this.windowMs) {
      this.episodes.delete(client);
      return undefined;
    }
    return episode;
  }

  private sweep(): void {
    const now = this.now();
    for (const [client, episode] of this.episodes) {
      if (now - episode.start >= this.windowMs) this.episodes.delete(client);
    }
    // All still current (a flood from many addresses): forget the oldest rather than grow.
    if (this.episodes.size >= MAX_TRACKED) {
      const oldest = this.episodes.keys().next().value;
      if (oldest !== undefined) this.episodes.delete(oldest);
    }
  }
}
