/**
 * One webhook request: POST the body with its signature, under one deadline from connect to the
 * answer's end. At most ANSWER_MAX_BYTES of the answer are read (then the socket is dropped), so a
 * receiver that trickles, floods or never answers costs a timer and a few KiB, never more.
 */
import { createHmac } from "node:crypto";
import http from "node:http";
import https from "node:https";

/** What is read of an answer before the connection is dropped (the status is all that counts). */
export const ANSWER_MAX_BYTES = 4096;

export interface DeliveryRequest {
  readonly url: URL;
  readonly body: Buffer;
  readonly delivery: string;
  readonly type: string;
  readonly secret: string;
  readonly timeoutMs: number;
  readonly agent: http.Agent;
  /** Aborted at shutdown or when the webhook is removed: the request is dropped at once. */
  readonly signal: AbortSignal;
}

/** `ok`: a 2xx answer; anything else is retried. `why` is for logs: a status or an error code. */
export interface AttemptResult {
  readonly ok: boolean;
  readonly status: number | null;
  readonly why: string;
}

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes, keyed with the webhook's secret. */
export function signature(secret: string, body: Buffer): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export function post(request: DeliveryRequest): Promise<AttemptResult> {
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const settle = (result: AttemptResult): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const client = request.url.protocol === "https:" ? https : http;
    const req = client.request(request.url, {
      method: "POST",
      agent: request.agent,
      signal: request.signal,
      headers: {
        "content-type": "application/json",
        "content-length": String(request.body.length),
        "user-agent": "sysrq-bridge-webhooks",
        "x-sysrq-bridge-delivery": request.delivery,
        "x-sysrq-bridge-event": request.type,
        "x-sysrq-bridge-signature": signature(request.secret, request.body),
      },
    });
    // The deadline also bounds reading the answer after its status settled the attempt.
    const deadline = setTimeout(() => {
      req.destroy();
      settle({ ok: false, status: null, why: `no answer within ${request.timeoutMs} ms` });
    }, request.timeoutMs);
    const finish = (): void => clearTimeout(deadline);
    req.on("error", (err: NodeJS.ErrnoException) => {
      finish();
      settle({ ok: false, status: null, why: err.code ?? err.name });
    });
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      // The status decides: a 2xx is delivered even if the answer's body never ends.
      settle({ ok: status >= 200 && status < 300, status, why: `HTTP ${status}` });
      let read = 0;
      res.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read <= ANSWER_MAX_BYTES) return;
        res.destroy();
        finish();
      });
      res.on("end", finish);
      res.on("error", finish);
    });
    req.end(request.body);
  });
}
