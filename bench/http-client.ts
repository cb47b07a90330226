/**
 * The bench's HTTP client: one keep-alive connection per agent (node:http), so a figure is a request,
 * not a TCP handshake, and the Server-Timing header parsed into phases.
 */
import http from "node:http";

export interface JsonAnswer<T> {
  readonly status: number;
  readonly body: T;
  /** Server-Timing phases in ms (http, queue, wire, kernel, settle, respond, total), if sent. */
  readonly timing: Record<string, number>;
}

/**
 * The daemon takes at most 64 connections from one address (src/connection-limits.ts); the bench's
 * other requests (fetch's own pool) come from 127.0.0.1 too, so this client takes half of that.
 */
const PER_ADDRESS = 32;

export class KeepAliveClient {
  private readonly agent: http.Agent;
  private readonly url: URL;
  /** More connections than one address may hold come from 127.0.0.1, .2, ... (all this host). */
  private readonly localAddresses: readonly (string | undefined)[];
  private next = 0;

  constructor(baseUrl: string, connections = 1) {
    this.url = new URL(baseUrl);
    const spread = this.url.hostname === "127.0.0.1" ? Math.ceil(connections / PER_ADDRESS) : 1;
    this.localAddresses =
      spread > 1 ? Array.from({ length: spread }, (_, i) => `127.0.0.${i + 1}`) : [undefined];
    // Sockets are pooled per local address: a share of the connections each.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: Math.ceil(connections / spread) });
  }

  post<T>(path: string, payload: unknown): Promise<JsonAnswer<T>> {
    const body = JSON.stringify(payload);
    const localAddress = this.localAddresses[this.next++ % this.localAddresses.length];
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          agent: this.agent,
          ...(localAddress ? { localAddress } : {}),
          host: this.url.hostname,
          port: this.url.port,
          path,
          method: "POST",
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => {
            try {
              resolve({
                status: res.statusCode ?? 0,
                body: JSON.parse(text) as T,
                timing: parseServerTiming(res.headers["server-timing"]),
              });
            } catch (err) {
              reject(err instanceof Error ? err : new Error(String(err)));
            }
          });
        },
      );
      request.on("error", reject);
      request.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function parseServerTiming(header: string | string[] | undefined): Record<string, number> {
  const phases: Record<string, number> = {};
  for (const entry of String(header ?? "").split(",")) {
    const [name, dur] = entry.trim().split(";dur=");
    if (name && dur !== undefined) phases[name] = Number(dur);
  }
  return phases;
}
