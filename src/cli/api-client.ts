/**
 * The daemon's HTTP API as the CLI sees it: plain fetch, no daemon code at run time (types only), so
 * the client commands start without loading fastify or serialport.
 *
 *   CLI command ──> ApiClient ──fetch──> daemon /ports/...
 *                       │
 *                       └─ failures become a CliError carrying the exit status they mean
 */
import type { AuditRecord } from "../audit/audit-log.js";
import type { LogLine, LogPage } from "../capture/line-log.js";
import type { PowerAction } from "../control/power-channel.js";
import type { Incident } from "../recovery/incidents.js";
import type { PowerResult } from "../recovery/power.js";
import type { ProbeResult } from "../recovery/probe.js";
import type { Health } from "../recovery/quarantine.js";
import type { KeyResult } from "../sysrq/result.js";
import { ExitCode, exitForStatus, type NmiVerdict } from "./exit-codes.js";

export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    /** The daemon's stable error code (PORT_NOT_FOUND, ...), or CONNECT / HTTP_<status> / PROTOCOL. */
    readonly code: string,
    message: string,
    readonly status: number | null = null,
    /** Keys that settled before a sequence failed part-way. */
    readonly results: readonly KeyResult[] = [],
  ) {
    super(message);
    this.name = "CliError";
  }
}

export interface PortSummary {
  readonly id: string;
  readonly kind: string;
  readonly target: string;
  readonly state: string;
  readonly reason?: string;
  readonly lease: LeaseView | null;
  readonly viewers: number;
  /** Absent from a daemon older than the recovery ladders. */
  readonly health?: Health;
  readonly capabilities: {
    readonly break: { readonly available: boolean; readonly method?: string };
    readonly sysrq: { readonly available: boolean; readonly method: string };
    readonly nmi: { readonly available: boolean; readonly method?: string; readonly reason?: string };
    readonly power?: { readonly available: boolean; readonly method?: string; readonly reason?: string };
  };
}

export interface SysrqOptions {
  readonly keys: string;
  readonly timeoutMs?: number;
  readonly settleMs?: number;
  readonly breakMs?: number;
}

export interface NmiResultBody {
  readonly port: string;
  readonly verdict: NmiVerdict;
  readonly line: string | null;
  readonly latencyMs: number | null;
  readonly output: string[];
  readonly reason?: string;
}

export interface LogQuery {
  readonly since?: number;
  readonly limit?: number;
  readonly waitMs?: number;
  readonly match?: string;
}

export interface LeaseView {
  readonly holder: string;
  readonly via: string;
  readonly expiresAt: string | null;
}

export interface TakenLease extends LeaseView {
  readonly leaseId: string;
}

/** One entry of GET /sysrq/keys. */
export interface SysrqKeyInfo {
  readonly key: string;
  readonly action: string;
  readonly group: string;
  readonly destructive: boolean;
  readonly role: string;
  readonly bit: number | null;
  readonly bitMeaning: string | null;
}

export interface CaptureSlice {
  readonly data: Buffer;
  /** Absolute offset of data's first byte, and the retained range [start, end). */
  readonly offset: number;
  readonly start: number;
  readonly end: number;
}

export interface IncidentPage {
  readonly incidents: Incident[];
  /** Pass as `since` to list only incidents opened after this page. */
  readonly next: number;
}

/** The wire shapes are the daemon's own types (type-only imports: nothing of the daemon loads). */
export type { Incident, LogLine, LogPage, PowerAction, PowerResult, ProbeResult };
export type AuditEntry = AuditRecord;

/** Query string of the given values, undefined ones left out. */
function query(values: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values))
    if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

export class ApiClient {
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly token: string | undefined,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
  }

  /** Authorization header for HTTP and for the console WebSocket. */
  get headers(): Record<string, string> {
    return this.token === undefined ? {} : { authorization: `Bearer ${this.token}` };
  }

  /** ws:// or wss:// URL of a port's console. */
  consoleUrl(port: string): string {
    return `${this.baseUrl.replace(/^http/, "ws")}/ports/${encodeURIComponent(port)}/console`;
  }

  ports(): Promise<PortSummary[]> {
    return this.json<PortSummary[]>("GET", "/ports");
  }

  nmi(port: string, timeoutMs?: number): Promise<NmiResultBody> {
    return this.json(
      "POST",
      `/ports/${encodeURIComponent(port)}/nmi`,
      timeoutMs === undefined ? {} : { timeoutMs },
    );
  }

  sendBreak(port: string, breakMs?: number): Promise<{ port: string; breakMs?: number; method: string }> {
    return this.json(
      "POST",
      `/ports/${encodeURIComponent(port)}/break`,
      breakMs === undefined ? {} : { breakMs },
    );
  }

  write(port: string, bytes: Buffer): Promise<{ port: string; bytes: number }> {
    return this.json("POST", `/ports/${encodeURIComponent(port)}/write`, {
      base64: bytes.toString("base64"),
    });
  }

  log(port: string, options: LogQuery, signal?: AbortSignal): Promise<LogPage> {
    return this.json(
      "GET",
      `/ports/${encodeURIComponent(port)}/log${query({ ...options })}`,
      undefined,
      signal,
    );
  }

  port(port: string): Promise<PortSummary> {
    return this.json("GET", `/ports/${encodeURIComponent(port)}`);
  }

  takeLease(port: string, options: { ttlMs?: number; takeover?: boolean }): Promise<TakenLease> {
    return this.json("POST", `/ports/${encodeURIComponent(port)}/lease`, options);
  }

  releaseLease(port: string, leaseId: string): Promise<{ released: boolean }> {
    return this.json("DELETE", `/ports/${encodeURIComponent(port)}/lease`, { leaseId });
  }

  sysrqKeys(): Promise<{ keys: SysrqKeyInfo[] }> {
    return this.json("GET", "/sysrq/keys");
  }

  audit(options: { since?: number; limit?: number; port?: string }): Promise<{
    entries: AuditEntry[];
    next: number;
  }> {
    return this.json("GET", `/audit${query(options)}`);
  }

  probe(port: string, probeMs?: number): Promise<ProbeResult> {
    return this.json(
      "POST",
      `/ports/${encodeURIComponent(port)}/probe`,
      probeMs === undefined ? {} : { probeMs },
    );
  }

  power(port: string, action: PowerAction, timeoutMs?: number): Promise<PowerResult> {
    return this.json("POST", `/ports/${encodeURIComponent(port)}/power`, {
      action,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  }

  recover(port: string): Promise<{ incident: Incident }> {
    return this.json("POST", `/ports/${encodeURIComponent(port)}/recover`, {});
  }

  liftQuarantine(port: string): Promise<{ lifted: boolean; health: Health }> {
    return this.json("DELETE", `/ports/${encodeURIComponent(port)}/quarantine`);
  }

  incidents(
    options: { port?: string; since?: number; state?: "open" | "closed"; limit?: number },
    signal?: AbortSignal,
  ): Promise<IncidentPage> {
    return this.json("GET", `/incidents${query(options)}`, undefined, signal);
  }

  incident(id: string, signal?: AbortSignal): Promise<Incident> {
    return this.json("GET", `/incidents/${encodeURIComponent(id)}`, undefined, signal);
  }

  async capture(port: string, options: { offset?: number; length?: number }): Promise<CaptureSlice> {
    const response = await this.fetch(
      "GET",
      `/ports/${encodeURIComponent(port)}/capture${query(options)}`,
      undefined,
      {},
    );
    if (!response.ok) throw await errorOf(response);
    const header = (name: string): number => Number(response.headers.get(name) ?? Number.NaN);
    return {
      data: Buffer.from(await response.arrayBuffer()),
      offset: header("x-capture-offset"),
      start: header("x-capture-start"),
      end: header("x-capture-end"),
    };
  }

  /**
   * Runs a SysRq sequence with the streaming API: `onResult` sees each key as it settles. A link
   * failure part-way is a CliError that keeps the keys that settled before it.
   */
  async sysrq(
    port: string,
    options: SysrqOptions,
    onResult: (result: KeyResult) => void,
  ): Promise<KeyResult[]> {
    const response = await this.fetch("POST", `/ports/${encodeURIComponent(port)}/sysrq`, options, {
      accept: "application/x-ndjson",
    });
    if (!response.ok) throw await errorOf(response);
    if (!(response.headers.get("content-type") ?? "").startsWith("application/x-ndjson")) {
      // A daemon without streaming answers with the whole result at once.
      const body = (await response.json()) as { results: KeyResult[] };
      body.results.forEach(onResult);
      return body.results;
    }
    const results: KeyResult[] = [];
    try {
      for await (const line of lines(response)) {
        const item = JSON.parse(line) as KeyResult | { error: { code: string; message: string } };
        if ("error" in item) {
          throw new CliError(
            ExitCode.TRANSPORT,
            item.error.code,
            item.error.message,
            response.status,
            results,
          );
        }
        results.push(item);
        onResult(item);
      }
    } catch (err) {
      if (err instanceof CliError) throw err;
      const why = `the result stream broke after ${results.length} of ${options.keys.length} keys`;
      throw new CliError(ExitCode.TRANSPORT, "PROTOCOL", `${why}: ${(err as Error).message}`, null, results);
    }
    return results;
  }

  /** Opens GET /events (Server-Sent Events), resuming after `lastEventId` when given; the body streams. */
  async events(lastEventId: string | null, signal: AbortSignal): Promise<Response> {
    const extra: Record<string, string> = { accept: "text/event-stream" };
    if (lastEventId !== null) extra["last-event-id"] = lastEventId;
    const response = await this.fetch("GET", "/events", undefined, extra, signal);
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  private async json<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const response = await this.fetch(method, path, body, {}, signal);
    if (!response.ok) throw await errorOf(response);
    return (await response.json()) as T;
  }

  private async fetch(
    method: string,
    path: string,
    body: unknown,
    extraHeaders: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    const headers: Record<string, string> = { ...this.headers, ...extraHeaders };
    if (body !== undefined) headers["content-type"] = "application/json";
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new CliError(ExitCode.TRANSPORT, "CONNECT", `cannot reach the daemon at ${this.baseUrl}: ${why}`);
    }
  }
}

async function errorOf(response: Response): Promise<CliError> {
  const text = await response.text();
  let code = `HTTP_${response.status}`;
  let message = text.trim() || response.statusText;
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown };
    if (typeof body.code === "string") code = body.code;
    if (typeof body.message === "string") message = body.message;
  } catch {
    // Not JSON (a proxy's page, say): the text itself is the message.
  }
  return new CliError(exitForStatus(response.status), code, message, response.status);
}

/** The lines of an NDJSON body, as they arrive. */
async function* lines(response: Response): AsyncGenerator<string> {
  if (response.body === null) return;
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of response.body) {
    pending += decoder.decode(chunk as Uint8Array, { stream: true });
    let end: number;
    while ((end = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, end).trim();
      pending = pending.slice(end + 1);
      if (line !== "") yield line;
    }
  }
  pending += decoder.decode();
  if (pending.trim() !== "") yield pending.trim();
}
