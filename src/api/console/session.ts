/**
 * One console WebSocket: authenticates (Authorization header, or a first `auth` frame from a browser),
 * sends an optional backlog from the capture joined to the live stream (no gap, no duplicate), relays
 * output with a bound on what a slow viewer may leave unread, and relays input and BREAKs under the
 * door rules of ports/console-break-guard.ts: both need the writer lease (after its own BREAK, one
 * SysRq key needs only the role, and is audited with the kernel's verdict), and nothing goes out while
 * the audit cannot be written. What every console door shares (key guard, lease, bounded input, audit)
 * is clients/console-client.ts.
 */
import type { FastifyBaseLogger } from "fastify";
import type { RawData, WebSocket } from "ws";
import type { AuditLog } from "../../audit/audit-log.js";
import { ConsoleClient } from "../../clients/console-client.js";
import type { ConsoleOp } from "../../clients/input-queue.js";
import { overUnread } from "../../clients/limits.js";
import { roleAtLeast } from "../../clients/roles.js";
import { BridgeError } from "../../errors.js";
import { inputRefusal } from "../../ports/console-break-guard.js";
import type { Port } from "../../ports/port.js";
import { mayUsePort, type Principal } from "../auth/principal.js";
import type { ConsoleHub } from "./hub.js";
import { CloseCode, leaseView, parseClientMessage, type ServerMessage } from "./protocol.js";

const AUTH_TIMEOUT_MS = 5000;

function toBuffer(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

export interface SessionContext {
  readonly port: Port;
  readonly hub: ConsoleHub;
  readonly audit: AuditLog;
  readonly log: FastifyBaseLogger;
  readonly client: string;
  /** Resolves a bearer token; null when it matches none. OPEN when auth is off. */
  readonly authenticate: (token: string | undefined) => Principal | null;
  readonly authEnabled: boolean;
  readonly backlogBytes: number;
}

export class ConsoleSession {
  private principal: Principal | null = null;
  private bytesIn = 0;
  /** Key guard, lease, input queue and audit, as every console door has them (clients/). */
  private readonly client: ConsoleClient;

  constructor(
    private readonly socket: WebSocket,
    private readonly context: SessionContext,
    authorization: string | undefined,
  ) {
    const { port, audit, log } = context;
    this.client = new ConsoleClient(
      {
        port,
        audit,
        log,
        address: context.client,
        run: (op) => this.runOp(op),
        pressure: (paused) => (paused ? socket.pause() : socket.resume()),
      },
      null,
    );
    socket.on("close", () => void this.closed());
    socket.on("error", () => socket.terminate());
    if (authorization !== undefined || !context.authEnabled) {
      this.start(context.authenticate(authorization?.replace(/^Bearer\s+/i, "")));
      return;
    }
    const timer = setTimeout(() => this.close(CloseCode.UNAUTHORIZED, "no auth frame"), AUTH_TIMEOUT_MS);
    socket.once("message", (data, isBinary) => {
      clearTimeout(timer);
      const message = isBinary ? null : parseClientMessage(toBuffer(data).toString("utf8"));
      this.start(message?.type === "auth" ? context.authenticate(message.token) : null);
    });
  }

  get id(): string {
    return this.client.id;
  }

  get portId(): string {
    return this.context.port.id;
  }

  private leaseChanged(): void {
    const lease = this.context.port.lease.current;
    this.send({ type: "lease", lease: leaseView(lease), yours: this.client.holdsLease() });
  }

  private start(principal: Principal | null): void {
    if (principal === null) return this.close(CloseCode.UNAUTHORIZED, "a valid token is required");
    if (!mayUsePort(principal, this.portId))
      return this.close(CloseCode.FORBIDDEN, `not allowed on ${this.portId}`);
    this.principal = principal;
    this.client.identify(principal);
    this.client.untilEnd(this.context.hub.join(this));
    this.client.untilEnd(this.context.port.lease.onChange(() => this.leaseChanged()));
    void this.attachOutput().then(() => {
      this.socket.on("message", (data, isBinary) => {
        const bytes = toBuffer(data);
        if (isBinary) this.input(bytes);
        else void this.control(bytes.toString("utf8"));
      });
    });
  }

  /** Backlog from the capture, then live output from exactly where the backlog ends. */
  private async attachOutput(): Promise<void> {
    const { port, backlogBytes } = this.context;
    const live: Buffer[] = [];
    let streaming = false;
    const liveFrom = port.capture.size;
    this.client.untilEnd(
      port.onOutput((chunk) => {
        if (streaming) this.output(chunk);
        else live.push(chunk);
      }),
    );
    let backlog: Buffer = Buffer.alloc(0);
    if (backlogBytes > 0) {
      const slice = await port.capture.read(Math.max(0, liveFrom - backlogBytes), backlogBytes);
      const from = slice.offset ?? liveFrom;
      backlog = slice.data.subarray(0, Math.max(0, liveFrom - from));
    }
    const principal = this.principal;
    if (principal === null) return;
    this.send({
      type: "hello",
      port: port.id,
      name: principal.name,
      role: principal.role,
      lease: leaseView(port.lease.current),
      offset: liveFrom - backlog.length,
    });
    if (backlog.length > 0) this.output(backlog);
    for (const chunk of live) this.output(chunk);
    streaming = true;
  }

  private output(chunk: Buffer): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    if (overUnread(this.socket, this.tooSlow)) return;
    this.socket.send(chunk, { binary: true });
  }

  /** A viewer that does not read what the target prints is dropped (clients/limits.ts). */
  private readonly tooSlow = (): void =>
    this.close(CloseCode.TOO_SLOW, "viewer too slow: more than 4 MiB unread");

  private input(bytes: Buffer): void {
    const principal = this.principal;
    if (principal === null || bytes.length === 0) return;
    if (!this.client.mayOperate) {
      return this.error(
        "FORBIDDEN",
        `typing needs the operate role; token "${principal.name}" has ${principal.role}`,
      );
    }
    this.bytesIn += bytes.length;
    this.client.push({ kind: "input", bytes });
  }

  /** Runs when the op's turn comes: the lease and arm are checked then, not when the frame arrived. */
  private async runOp(op: ConsoleOp): Promise<void> {
    if (this.principal === null) return;
    const { port } = this.context;
    const { caller, keys } = this.client;
    try {
      if (op.kind === "break") {
        await port.console.break(caller, op.breakMs);
        await this.client.audit("console-break", {});
        return;
      }
      // Refused here, it never takes a place in the port's queue; checked again when its turn comes.
      const refused = inputRefusal(caller, port.console.armedBy(this.id), op.bytes.length);
      if (refused) throw refused;
      keys.track(await port.console.input(op.bytes, caller));
    } catch (err) {
      if (op.kind === "break") await this.breakRefused(err);
      else if (await keys.refused(err)) return this.failed(err, "SysRq key refused");
      this.failed(
        err,
        op.kind === "break" ? "BREAK failed" : `${op.bytes.length} bytes of input were not sent`,
      );
    }
  }

  /** A BREAK that did not go out is audited with why (lease, audit health, the wire). */
  private async breakRefused(err: unknown): Promise<void> {
    const status = err instanceof BridgeError ? err.statusCode : 500;
    const code = err instanceof BridgeError ? err.code : "INTERNAL";
    await this.client.audit("console-break", { status, code });
  }

  private async control(text: string): Promise<void> {
    const principal = this.principal;
    const message = parseClientMessage(text);
    if (principal === null) return;
    if (message === null) return this.error("VALIDATION", "unknown control message");
    if (message.type === "auth") return;
    if (!this.client.mayOperate) {
      return this.error(
        "FORBIDDEN",
        `${message.type} needs the operate role; token "${principal.name}" has ${principal.role}`,
      );
    }
    try {
      if (message.type === "break") {
        this.client.push({
          kind: "break",
          ...(message.breakMs === undefined ? {} : { breakMs: message.breakMs }),
        });
      } else if (message.action === "release") {
        if (this.client.releaseLease()) await this.client.audit("lease-release", {});
      } else {
        if (message.takeover === true && !roleAtLeast(principal.role, "admin")) {
          return this.error("FORBIDDEN", "taking over a lease needs the admin role");
        }
        const unaudited = this.context.audit.unavailable();
        if (unaudited !== null)
          return this.error("AUDIT_UNAVAILABLE", `${unaudited}; the lease was not taken`);
        const { displaced } = this.client.takeLease("websocket", message.takeover === true);
        await this.client.audit(
          displaced ? "lease-takeover" : "lease-take",
          displaced ? { displaced: displaced.holder } : {},
        );
      }
    } catch (err) {
      this.failed(err, `${message.type} failed`);
    }
  }

  private failed(err: unknown, what: string): void {
    if (err instanceof BridgeError) return this.error(err.code, err.message);
    this.context.log.error({ err }, what);
    this.error("INTERNAL", what);
  }

  private error(code: string, message: string): void {
    this.send({ type: "error", code, message });
  }

  private send(message: ServerMessage): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  /** The socket closed; a browser's queued input is not waited for (its lease goes at once). */
  private async closed(): Promise<void> {
    await this.client.end({ finishQueued: false });
    if (this.bytesIn > 0) await this.client.audit("console-input", { bytes: this.bytesIn });
  }
}
