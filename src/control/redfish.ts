/**
 * A BMC's Redfish API: DMTF ComputerSystem.Reset, with ResetType "Nmi" for an NMI and On / ForceOff /
 * PowerCycle / ForceRestart for power.
 *
 *   [session: POST /redfish/v1/SessionService/Sessions -> X-Auth-Token, Location]  or basic auth
 *   GET <system>  -> Actions["#ComputerSystem.Reset"] { target, ResetType@Redfish.AllowableValues
 *                                                       | @Redfish.ActionInfo -> Parameters }
 *   POST <target> {"ResetType": T}                    (refused clearly when T is not offered)
 *   [GET <system> until PowerState is S]               when the caller waits for a state
 *   [DELETE <session Location>]                       always: BMCs cap their sessions
 *
 * TLS is verified unless the port says otherwise; credentials come from the environment or a file and
 * never reach a log line or an error message. Every request has a deadline and a bounded answer.
 */
import https from "node:https";
import type { RedfishConfig } from "../config/types.js";

/** A BMC's answer larger than this is refused (a ComputerSystem is a few KiB). */
export const REDFISH_REPLY_LIMIT = 1024 * 1024;
const REQUEST_DEADLINE_MS = 10_000;
const STATE_POLL_MS = 500;

export class RedfishError extends Error {
  constructor(
    message: string,
    /** "unsupported": the BMC does not offer the ResetType (nothing was sent); "failed": anything else. */
    readonly kind: "unsupported" | "failed",
  ) {
    super(message);
    this.name = "RedfishError";
  }
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
}

type ResetAction = {
  target?: string;
  "ResetType@Redfish.AllowableValues"?: string[];
  "@Redfish.ActionInfo"?: string;
};

/** Picks the ResetType to send from what the BMC offers (null: it lists none); null = none fits. */
export type ResetChoice = (offered: readonly string[] | null) => string | null;

/** What a reset did, for the evidence. */
export interface ResetOutcome {
  readonly resetType: string;
  readonly steps: string[];
  /** The system's PowerState after the reset, when the caller waited for one. */
  readonly powerState?: string;
}

export class RedfishClient {
  constructor(private readonly config: RedfishConfig) {}

  describe(): string {
    return this.config.url;
  }

  private request(
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: unknown,
  ): Promise<Reply> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          headers: {
            accept: "application/json",
            ...headers,
            ...(payload
              ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
              : {}),
          },
          ...(this.config.ca ? { ca: this.config.ca } : {}),
          rejectUnauthorized: !this.config.insecure,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > REDFISH_REPLY_LIMIT) {
              req.destroy(new Error(`the answer exceeds ${REDFISH_REPLY_LIMIT} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on("error", (err) =>
            reject(new RedfishError(`Redfish ${method} ${new URL(url).pathname}: ${err.message}`, "failed")),
          );
          res.on("end", () => {
            clearTimeout(deadline);
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = null;
            try {
              parsed = text ? JSON.parse(text) : null;
            } catch {
              parsed = null;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
          });
        },
      );
      const deadline = setTimeout(
        () => req.destroy(new Error(`no answer from ${new URL(url).host} within ${REQUEST_DEADLINE_MS} ms`)),
        REQUEST_DEADLINE_MS,
      );
      req.on("error", (err) => {
        clearTimeout(deadline);
        reject(new RedfishError(`Redfish ${method} ${new URL(url).pathname}: ${err.message}`, "failed"));
      });
      req.end(payload);
    });
  }

  /** Injects an NMI; resolves once the BMC has accepted the reset action. */
  async injectNmi(): Promise<void> {
    await this.reset((offered) => (offered === null || offered.includes("Nmi") ? "Nmi" : null), "Nmi");
  }

  /**
   * Runs ComputerSystem.Reset with the ResetType `choose` picks from what the BMC offers; refuses
   * ("unsupported", nothing sent) when it picks none. With `until`, then reads the system's
   * PowerState until it is `until.state` or `until.withinMs` pass (the last state read is returned).
   */
  async reset(
    choose: ResetChoice,
    wanted: string,
    until?: { readonly state: string; readonly withinMs: number },
  ): Promise<ResetOutcome> {
    return this.withSession(async (origin, auth) => {
      const steps: string[] = [];
      const { target, offered } = await this.findReset(origin, auth);
      const resetType = choose(offered);
      if (resetType === null) {
        throw new RedfishError(
          `the BMC does not offer ResetType ${wanted} for this system (it offers ${(offered ?? []).join(", ")})`,
          "unsupported",
        );
      }
      const url = new URL(target, origin);
      steps.push(`POST ${url.pathname} {"ResetType":"${resetType}"}`);
      const reply = await this.request("POST", url.href, auth, { ResetType: resetType });
      this.check(reply, `run ComputerSystem.Reset with ResetType ${resetType}`);
      if (!until) return { resetType, steps };
      const end = Date.now() + until.withinMs;
      let powerState = "unknown";
      for (;;) {
        const system = await this.request("GET", this.config.url, auth);
        this.check(system, "read the system's PowerState");
        const state = (system.body as { PowerState?: unknown } | null)?.PowerState;
        powerState = typeof state === "string" ? state : "unknown";
        if (powerState === until.state || Date.now() + STATE_POLL_MS > end) break;
        await new Promise((resolve) => setTimeout(resolve, STATE_POLL_MS));
      }
      steps.push(`GET ${new URL(this.config.url).pathname}: PowerState ${powerState}`);
      return { resetType, steps, powerState };
    });
  }

  /** Runs `work` with a session (deleted afterwards, whatever happens) or basic auth. */
  private async withSession<T>(
    work: (origin: string, auth: Record<string, string>) => Promise<T>,
  ): Promise<T> {
    const origin = new URL(this.config.url).origin;
    let session: { token: string; location: string | null } | null = null;
    let auth: Record<string, string>;
    if (this.config.auth === "session") {
      const reply = await this.request(
        "POST",
        `${origin}/redfish/v1/SessionService/Sessions`,
        {},
        {
          UserName: this.config.username,
          Password: this.config.password,
        },
      );
      this.check(reply, "create a session");
      const token = reply.headers["x-auth-token"];
      if (typeof token !== "string")
        throw new RedfishError("the BMC created a session without an X-Auth-Token", "failed");
      const location = reply.headers["location"];
      session = { token, location: typeof location === "string" ? new URL(location, origin).href : null };
      auth = { "x-auth-token": token };
    } else {
      auth = {
        authorization: `Basic ${Buffer.from(`${this.config.username}:${this.config.password}`).toString("base64")}`,
      };
    }
    try {
      return await work(origin, auth);
    } finally {
      if (session?.location) await this.request("DELETE", session.location, auth).catch(() => undefined);
    }
  }

  /** The reset action's target and the ResetTypes the BMC lists (null when it lists none). */
  private async findReset(
    origin: string,
    auth: Record<string, string>,
  ): Promise<{ target: string; offered: string[] | null }> {
    const system = await this.request("GET", this.config.url, auth);
    this.check(system, "read the system");
    const actions = (system.body as { Actions?: Record<string, ResetAction> } | null)?.Actions;
    const reset = actions?.["#ComputerSystem.Reset"];
    if (!reset?.target)
      throw new RedfishError(`${this.config.url} has no #ComputerSystem.Reset action`, "unsupported");
    let allowed = reset["ResetType@Redfish.AllowableValues"];
    const actionInfo = reset["@Redfish.ActionInfo"];
    if (!allowed && actionInfo) {
      const info = await this.request("GET", new URL(actionInfo, origin).href, auth);
      this.check(info, "read the reset ActionInfo");
      const parameters = (info.body as { Parameters?: { Name: string; AllowableValues?: string[] }[] } | null)
        ?.Parameters;
      allowed = parameters?.find((p) => p.Name === "ResetType")?.AllowableValues;
    }
    return { target: reset.target, offered: Array.isArray(allowed) ? allowed.map(String) : null };
  }

  private check(reply: Reply, what: string): void {
    if (reply.status >= 200 && reply.status < 300) return;
    if (reply.status === 401 || reply.status === 403) {
      throw new RedfishError(
        `the BMC refused the credentials (HTTP ${reply.status}) trying to ${what}`,
        "failed",
      );
    }
    throw new RedfishError(`the BMC answered HTTP ${reply.status} trying to ${what}`, "failed");
  }
}
