/**
 * The SSH door (`ssh:` in the config): `ssh vm0@bridge` for the live console (ssh-console.ts),
 * `ssh vm0@bridge COMMAND` for one command (ssh-exec.ts). Public keys only, each the key of an
 * auth.tokens entry (its role and ports); with no tokens at all (loopback only) any key that signs
 * acts as `anonymous` admin, as an export listener does. The user name is the port id; an unknown
 * port, a key of no token and a port the token may not use all fail alike.
 * Bounds: the connection caps shared with every listener (connection-limits.ts), LOGIN_GRACE_MS to
 * authenticate, MAX_AUTH_ATTEMPTS, MAX_SESSIONS channels per connection.
 *
 *   net.Server ─> gate.admit ─> ssh2 injectSocket ─> auth ─> session ─┬─ shell ─> serveSshConsole
 *                                                                     └─ exec  ─> runExec
 */
import { createServer, type Server as NetServer, type Socket } from "node:net";
import type { Logger } from "pino";
import ssh2 from "ssh2";
import type { AuthContext, Session } from "ssh2";
import type { AuditLog } from "../audit/audit-log.js";
import { ConsoleClient, type ClientIdentity } from "../clients/console-client.js";
import type { SshConfig, TokenConfig } from "../config/types.js";
import type { ConnectionLimits } from "../connection-limits.js";
import { BridgeError } from "../errors.js";
import type { Port } from "../ports/port.js";
import { hookBreakRequests } from "./ssh-break-hook.js";
import { serveSshConsole, type ByteCounts, type WindowSize } from "./ssh-console.js";
import { runExec } from "./ssh-exec.js";
import { loadHostKey, signatureValid, tokenForKey } from "./ssh-keys.js";

export const LOGIN_GRACE_MS = 10_000;
export const MAX_AUTH_ATTEMPTS = 6;
/** Channels (console or command) one connection may have open at once. */
export const MAX_SESSIONS = 4;

export type SessionResult = "console" | "exec" | "auth-failed" | "grace-expired";

export interface SshDoorDeps {
  readonly config: SshConfig;
  /** The current tokens (a reload changes them; the door reads them at each login). */
  readonly tokens: () => readonly TokenConfig[];
  readonly port: (id: string) => Port | null;
  readonly audit: AuditLog;
  readonly log: Logger;
  readonly limits: ConnectionLimits;
}

export interface SshDoor {
  /** The bound TCP port (tests bind to 0). */
  readonly port: number;
  /** Connections by how they ended up, and console bytes both ways, for /metrics. */
  stats(): { readonly sessions: Readonly<Record<SessionResult, number>>; readonly bytes: ByteCounts };
  close(): Promise<void>;
}

export async function startSshDoor(deps: SshDoorDeps): Promise<SshDoor> {
  const { config, log } = deps;
  const hostKey = await loadHostKey(config.hostKeyFile);
  if (hostKey.created) log.info({ file: config.hostKeyFile }, "ssh host key generated");
  const sessions: Record<SessionResult, number> = {
    console: 0,
    exec: 0,
    "auth-failed": 0,
    "grace-expired": 0,
  };
  const bytes: ByteCounts = { in: 0, out: 0 };
  const gate = deps.limits.gate("ssh", log);
  const sockets = new Set<Socket>();
  const graceTimers = new Map<string, NodeJS.Timeout>();
  const served = new Set<Promise<void>>();
  const track = (work: Promise<void>): void => {
    served.add(work);
    void work.finally(() => served.delete(work));
  };

  const ssh = new ssh2.Server({ hostKeys: [hostKey.key], ident: "sysrq-bridge" }, (client, info) => {
    const address = `ssh:${info.ip}:${info.port}`;
    hookBreakRequests(client);
    // Set at accept (a client that never sends its version line must be dropped too), cleared at login.
    const grace = graceTimers.get(`${info.ip}:${info.port}`);
    let who: (ClientIdentity & { readonly port: Port }) | null = null;
    let failures = 0;
    client.on("authentication", (ctx) => {
      const found = ctx.method === "publickey" ? authenticate(ctx, deps) : null;
      if (found === "query") return ctx.accept();
      if (found !== null) {
        who = found;
        return ctx.accept();
      }
      // OpenSSH first asks with method none; each refused key (asked about or signed) counts.
      if (ctx.method === "publickey") failures += 1;
      if (failures >= MAX_AUTH_ATTEMPTS) {
        sessions["auth-failed"] += 1;
        return client.end();
      }
      ctx.reject(["publickey"]);
    });
    client.on("ready", () => clearTimeout(grace));
    client.on("close", () => {
      if (who === null && failures > 0 && failures < MAX_AUTH_ATTEMPTS) sessions["auth-failed"] += 1;
    });
    client.on("error", (err) => log.debug({ err, client: address }, "ssh client error"));
    let open = 0;
    client.on("session", (accept, reject) => {
      if (who === null || open >= MAX_SESSIONS) return reject();
      const me = who;
      open += 1;
      const session = accept();
      track(serveSession(session, me, address).finally(() => (open -= 1)));
    });
  });

  const serveSession = (session: Session, who: ClientIdentity & { readonly port: Port }, address: string) =>
    new Promise<void>((resolve) => {
      let breakHandler: (() => void) | null = null;
      let started = false;
      const once = (): boolean => (started ? false : (started = true));
      // The window size matters to an exec port's pty only (ssh-console.ts passes the writer's on).
      let window: WindowSize | null = null;
      let windowHandler: ((size: WindowSize) => void) | null = null;
      const sized = (info: WindowSize): void => {
        window = { cols: info.cols, rows: info.rows };
        windowHandler?.(window);
      };
      session.on("pty", (accept, _reject, info) => {
        sized(info);
        accept?.();
      });
      session.on("window-change", (accept, _reject, info) => {
        sized(info);
        accept?.();
      });
      session.on("env", (accept) => accept?.());
      session.on("break", () => breakHandler?.());
      session.on("close", () => {
        if (!started) resolve();
      });
      session.on("shell", (accept) => {
        if (!once()) return;
        sessions.console += 1;
        const channel = accept();
        const done = serveSshConsole(
          channel,
          { port: who.port, audit: deps.audit, log: log.child({ port: who.port.id }) },
          who,
          address,
          bytes,
          (handler) => (breakHandler = handler),
          (handler) => {
            windowHandler = handler;
            if (window) handler(window);
          },
        );
        void done.catch((err: unknown) => log.error({ err }, "ssh console failed")).then(resolve);
      });
      session.on("exec", (accept, _reject, info) => {
        if (!once()) return;
        sessions.exec += 1;
        const channel = accept();
        const client = new ConsoleClient(
          {
            port: who.port,
            audit: deps.audit,
            log,
            address,
            auditFields: { via: "ssh" },
            run: () => Promise.resolve(),
            pressure: () => undefined,
          },
          who,
        );
        const io = {
          out: (text: string) => channel.write(text),
          err: (text: string) => channel.stderr.write(text),
        };
        void runExec(info.command, who.port, who, io)
          .then(async (outcome) => {
            await client.audit("ssh-exec", { exitCode: outcome.code, ...outcome.detail });
            channel.exit(outcome.code);
            channel.end();
          })
          .catch((err: unknown) => log.error({ err }, "ssh exec failed"))
          .then(resolve);
      });
    });

  const server: NetServer = createServer((socket) => {
    if (!gate.admit(socket)) return;
    sockets.add(socket);
    const key = `${socket.remoteAddress ?? ""}:${socket.remotePort ?? ""}`;
    const grace = setTimeout(() => {
      sessions["grace-expired"] += 1;
      socket.destroy();
    }, LOGIN_GRACE_MS);
    graceTimers.set(key, grace);
    socket.once("close", () => {
      clearTimeout(grace);
      graceTimers.delete(key);
      sockets.delete(socket);
    });
    socket.on("error", () => socket.destroy());
    ssh.injectSocket(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(
        new BridgeError(
          "CONFIG_INVALID",
          `ssh: cannot listen on ${config.host}:${config.port}: ${err.message}`,
          {
            cause: err,
          },
        ),
      ),
    );
    server.listen(config.port, config.host, resolve);
  });
  const bound = (server.address() as { port: number }).port;
  log.info({ at: `${config.host}:${bound}` }, "ssh door listening");
  return {
    port: bound,
    stats: () => ({ sessions: { ...sessions }, bytes: { ...bytes } }),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      await Promise.all(served);
    },
  };
}

/** The identity for a signed attempt, "query" for a key the client only asks about, null to refuse. */
function authenticate(
  ctx: AuthContext & { method: "publickey" },
  deps: SshDoorDeps,
): (ClientIdentity & { readonly port: Port }) | "query" | null {
  const tokens = deps.tokens();
  const token = tokens.length === 0 ? null : tokenForKey(tokens, ctx.key.data);
  const port = deps.port(ctx.username);
  if (port === null || (tokens.length > 0 && token === null)) return null;
  if (token !== null && token.ports !== null && !token.ports.has(port.id)) return null;
  if (ctx.signature === undefined) return "query";
  if (!signatureValid(ctx)) return null;
  return token === null
    ? { name: "anonymous", role: "admin", port }
    : { name: token.name, role: token.role, port };
}
