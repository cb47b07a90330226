// @ts-check
/**
 * The daemon's HTTP API as the page uses it. The token lives in sessionStorage: it is kept for this
 * tab only and sent as an Authorization header, never in a URL.
 */

const TOKEN_KEY = "sysrq-bridge.token";

/**
 * @typedef {{ holder: string, via: string, expiresAt: string | null }} Lease
 * @typedef {{ available: boolean, method?: string, reason?: string }} Capability
 * @typedef {{
 *   id: string, kind: string, target: string, state: string, reason?: string,
 *   lease: Lease | null, viewers: number, health?: "good" | "recovering" | "bad",
 *   capabilities: {
 *     break: Capability, sysrq: Capability, nmi: Capability,
 *     power?: Capability & { actions?: string[] },
 *     recover?: { configured: boolean, steps?: string[], on?: string[] }
 *   }
 * }} PortInfo
 * @typedef {{ step: string, verdict: string, output: string[], startedAt: string, ms: number }} IncidentStep
 * @typedef {{
 *   id: string, port: string, kinds: string[], state: "open" | "closed", opened: string, closed?: string,
 *   trigger: { line: string, seq: number, offset: number }, report: string[], context: string[],
 *   steps: IncidentStep[], outcome?: string, truncated: boolean
 * }} Incident
 * @typedef {{
 *   kernel: string, userspace: string, vm?: string,
 *   evidence: { kernel: { verdict: string, line: string | null, reason?: string } }
 * }} ProbeResult
 * @typedef {{
 *   action: string, verdict: string, ms: number,
 *   evidence: { channel: string, banner: string | null, reason?: string, status?: string }
 * }} PowerResult
 * @typedef {{
 *   key: string, verdict: string, action?: string, line?: string | null, latencyMs?: number | null,
 *   hint?: string, reason?: string, note?: string, supported?: string
 * }} KeyResult
 * @typedef {{ error: { code: string, message: string } }} StreamError
 * @typedef {{
 *   key: string, action: string, group: string, destructive: boolean, role: string,
 *   bit: number | null, bitMeaning: string | null
 * }} SysrqKey
 */

const ROLES = ["read", "operate", "admin"];

/**
 * The daemon's role order: admin may do all that operate may, operate all that read may.
 * @param {string} role @param {string} needed
 */
export function roleAtLeast(role, needed) {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** An API answer that was not 2xx, with the daemon's stable code and its explanation. */
export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * JSON.parse typed as unknown: callers say what they expect with a cast.
 * @param {string} text @returns {unknown}
 */
export function parseJson(text) {
  /** @type {unknown} */
  const value = JSON.parse(text);
  return value;
}

/** @param {Response} response @returns {Promise<unknown>} */
async function bodyOf(response) {
  /** @type {unknown} */
  const value = await response.json();
  return value;
}

/** @returns {string | null} */
export function savedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** @param {string | null} token */
export function saveToken(token) {
  if (token === null || token === "") sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** @param {Record<string, string>} [extra] @returns {Record<string, string>} */
export function authHeaders(extra = {}) {
  const token = savedToken();
  return token === null ? extra : { ...extra, authorization: `Bearer ${token}` };
}

/** @param {Response} response @returns {Promise<ApiError>} */
async function errorOf(response) {
  try {
    const body = /** @type {{ code?: string, message?: string }} */ (await bodyOf(response));
    return new ApiError(response.status, body.code ?? "HTTP", body.message ?? response.statusText);
  } catch {
    return new ApiError(response.status, "HTTP", response.statusText);
  }
}

/**
 * @template T
 * @param {string} method @param {string} path @param {unknown} [body]
 * @returns {Promise<T>}
 */
async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: authHeaders(body === undefined ? {} : { "content-type": "application/json" }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw await errorOf(response);
  return /** @type {T} */ (await bodyOf(response));
}

/** @returns {Promise<PortInfo[]>} */
export function listPorts() {
  return call("GET", "/ports");
}

/**
 * The open incidents of every port the token may use (one request for the whole list).
 * @returns {Promise<{ incidents: Incident[] }>}
 */
export function listOpenIncidents() {
  return call("GET", "/incidents?state=open&limit=100");
}

/** @param {string} id @returns {Promise<Incident>} */
export function getIncident(id) {
  return call("GET", `/incidents/${encodeURIComponent(id)}`);
}

/** @param {string} port @returns {Promise<ProbeResult>} */
export function probePort(port) {
  return call("POST", `/ports/${encodeURIComponent(port)}/probe`, {});
}

/** @param {string} port @returns {Promise<{ incident: Incident }>} */
export function recoverPort(port) {
  return call("POST", `/ports/${encodeURIComponent(port)}/recover`, {});
}

/** @param {string} port @param {string} action on | off | cycle | reset @returns {Promise<PowerResult>} */
export function powerPort(port, action) {
  return call("POST", `/ports/${encodeURIComponent(port)}/power`, { action });
}

/**
 * The kernel's SysRq keys as the daemon knows them, in the order the dialog shows them.
 * @returns {Promise<{ keys: SysrqKey[] }>}
 */
export function listSysrqKeys() {
  return call("GET", "/sysrq/keys");
}

/**
 * The last HELP line the port's kernel printed that the log still keeps (null if none): it lists
 * the SysRq keys that kernel offers.
 * @param {string} port @returns {Promise<string | null>}
 */
export async function lastHelpLine(port) {
  const match = encodeURIComponent("(sysrq|SysRq) ?: HELP ?:");
  let since = 0;
  /** @type {string | null} */
  let last = null;
  // The daemon may cut a scan short; its `next` leads on. Bounded, like every loop here.
  for (let pages = 0; pages < 20; pages += 1) {
    /** @type {{ lines: { text: string }[], next: number }} */
    const page = await call(
      "GET",
      `/ports/${encodeURIComponent(port)}/log?since=${since}&limit=10000&match=${match}`,
    );
    last = page.lines.at(-1)?.text ?? last;
    if (page.next <= since) break;
    since = page.next;
  }
  return last;
}

/** @param {string} port @returns {Promise<{ verdict: string, line: string | null, reason?: string }>} */
export function sendNmi(port) {
  return call("POST", `/ports/${encodeURIComponent(port)}/nmi`, {});
}

/**
 * Sends a SysRq sequence and reports each key's result as the daemon settles it (NDJSON).
 * @param {string} port @param {string} keys
 * @param {(result: KeyResult) => void} onResult
 * @returns {Promise<void>} rejects with ApiError for a refusal or a failure mid-sequence
 */
export async function sendSysrq(port, keys, onResult) {
  const response = await fetch(`/ports/${encodeURIComponent(port)}/sysrq`, {
    method: "POST",
    headers: authHeaders({ "content-type": "application/json", accept: "application/x-ndjson" }),
    body: JSON.stringify({ keys }),
  });
  if (!response.ok || response.body === null) throw await errorOf(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value !== undefined) pending += value;
    const lines = pending.split("\n");
    pending = done ? "" : (lines.pop() ?? "");
    for (const line of lines.filter((l) => l.trim() !== "")) {
      const item = /** @type {KeyResult | StreamError} */ (parseJson(line));
      if ("error" in item) throw new ApiError(200, item.error.code, item.error.message);
      onResult(item);
    }
    if (done) return;
  }
}

const CAPTURE_CHUNK = 4 * 1024 * 1024;

/**
 * Reads the whole retained capture, chunk by chunk, up to where it ended when the download began.
 * @param {string} port @returns {Promise<Blob>}
 */
export async function downloadCapture(port) {
  /** @type {Blob[]} */
  const parts = [];
  /** @type {number | undefined} */
  let offset;
  /** @type {number | undefined} */
  let end;
  for (;;) {
    const query = offset === undefined ? "" : `offset=${offset}&`;
    const response = await fetch(
      `/ports/${encodeURIComponent(port)}/capture?${query}length=${CAPTURE_CHUNK}`,
      { headers: authHeaders() },
    );
    if (response.status === 416) break; // nothing at or past the end
    if (!response.ok) throw await errorOf(response);
    const first = Number(response.headers.get("x-capture-offset"));
    end ??= Number(response.headers.get("x-capture-end"));
    const blob = await response.blob();
    parts.push(blob);
    offset = first + blob.size;
    if (blob.size === 0 || offset >= end) break;
  }
  return new Blob(parts, { type: "application/octet-stream" });
}

/**
 * An incident's memory dump (admin): fetched with the Authorization header, since a plain link
 * cannot carry it; the caller saves the blob.
 * @param {string} id @returns {Promise<Blob>}
 */
export async function downloadDump(id) {
  const response = await fetch(`/incidents/${encodeURIComponent(id)}/dump`, { headers: authHeaders() });
  if (!response.ok) throw await errorOf(response);
  return response.blob();
}
