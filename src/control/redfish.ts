/**
 * NMI through a BMC's Redfish API (DMTF ComputerSystem.Reset with ResetType "Nmi").
 *
 *   [session: POST /redfish/v1/SessionService/Sessions -> X-Auth-Token, Location]  or basic auth
 *   GET <system>  -> Actions["#ComputerSystem.Reset"] { target, ResetType@Redfish.AllowableValues
 *                                                       | @Redfish.ActionInfo -> Parameters }
 *   POST <target> {"ResetType": "Nmi"}                (refused clearly when Nmi is not offered)
 *   [DELETE <session Location>]                       always: BMCs cap their sessions
 *
 * TLS is verified unless the port says otherwise; credentials come from the environment or a file and
 * never reach a log line or an error message.
 */
import https from "node:https";
import type { RedfishNmiConfig } from "../config/types.js";

export class RedfishError extends Error {
  constructor(
    message: string,
    /** "unsupported": the BMC does not offer Nmi; "failed": anything else. */
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

export class RedfishClient {
  constructor(private readonly config: RedfishNmiConfig) {}

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
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
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
      req.on("timeout", () => req.destroy(new Error(`no answer from ${new URL(url).host} within 10 s`)));
      req.on("error", (err) =>
        reject(new RedfishError(`Redfish ${method} ${new URL(url).pathname}: ${err.message}`, "failed")),
      );
      req.end(payload);
    });
  }

  /** Injects an NMI; resolves once the BMC has accepted the reset action. */
  async injectNmi(): Promise<void> {
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
      const target = await this.findNmiTarget(origin, auth);
      const reply = await this.request("POST", new URL(target, origin).href, auth, { ResetType: "Nmi" });
      this.check(reply, "run ComputerSystem.Reset with ResetType Nmi");
    } finally {
      if (session?.location) await this.request("DELETE", session.location, auth).catch(() => undefined);
    }
  }

  private async findNmiTarget(origin: string, auth: Record<string, string>): Promise<string> {
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
    if (allowed && !allowed.includes("Nmi")) {
      throw new RedfishError(
        `the BMC does not offer ResetType Nmi for this system (it offers ${allowed.join(", ")})`,
        "unsupported",
      );
    }
    return reset.target;
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
