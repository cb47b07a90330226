/** A small JSON client for the daemon's real HTTP listener. */
import assert from "node:assert/strict";

export interface HttpResult<T> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

/** `token`, when given, goes in an Authorization: Bearer header. */
export function client(baseUrl: string, token?: string) {
  async function call<T>(method: string, path: string, body?: unknown): Promise<HttpResult<T>> {
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as T, headers: res.headers };
  }
  return {
    get: <T>(path: string) => call<T>("GET", path),
    post: <T>(path: string, body: unknown) => call<T>("POST", path, body),
  };
}

export interface KeyResultBody {
  key: string;
  verdict: string;
  action?: string;
  line?: string | null;
  latencyMs?: number | null;
  output?: string[];
  needsBit?: number | null;
  hint?: string;
  supported?: string;
  reason?: string;
  note?: string;
  sentAt?: string;
  mayStillAct?: boolean;
  completion?: { line: string | null; latencyMs: number | null };
  after?: { event: string; line: string | null; disconnected: boolean };
}

export interface SysrqBody {
  port: string;
  results: KeyResultBody[];
}

export interface LogBody {
  lines: { seq: number; ts: string; text: string }[];
  next: number;
}

/** Waits (past the API's 120 s cap on waitMs) for a line from `since` matching `match`; its seq. */
export async function waitLine(
  api: ReturnType<typeof client>,
  since: number,
  match: string,
  totalMs: number,
): Promise<number> {
  const end = Date.now() + totalMs;
  for (;;) {
    const res = await api.get<LogBody>(
      `/ports/vm0/log?since=${since}&waitMs=60000&limit=1&match=${encodeURIComponent(match)}`,
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const line = res.body.lines[0];
    if (line) return line.seq;
    if (Date.now() > end) throw new Error(`no line matching ${match} within ${totalMs} ms`);
  }
}
