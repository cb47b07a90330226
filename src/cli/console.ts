/**
 * `sysrq-bridge console <port>`: a raw terminal on a port's console WebSocket, like ssh.
 *
 *   keyboard ──raw stdin──> EscapeFilter ──binary frames──> daemon ──> target
 *   screen   <──stdout───── binary frames <──────────────── daemon <── target
 *            <──stderr───── notices (lease, errors, close)   (JSON text frames)
 *
 * Typing needs the writer lease: the CLI asks for it once the daemon says hello, and holds what was
 * typed until the answer. Without it the session only reads.
 */
import WebSocket from "ws";
import { CloseCode, type ServerMessage } from "../api/console/protocol.js";
import type { ApiClient } from "./api-client.js";
import { ESCAPE_HELP, EscapeFilter } from "./console-escape.js";
import { ExitCode } from "./exit-codes.js";

export interface ConsoleIo {
  readonly stdin: NodeJS.ReadStream;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** After stdin ends (a pipe), time for the daemon to pass the last input on before we leave. */
const EOF_GRACE_MS = 1000;

const LEAVE_SIGNALS = ["SIGTERM", "SIGHUP", "SIGINT"] as const;

type LeaseState = "waiting" | "held" | "read-only";

function closeExit(code: number): ExitCode {
  switch (code) {
    case CloseCode.UNAUTHORIZED:
    case CloseCode.FORBIDDEN:
    case CloseCode.LEASE_HELD:
      return ExitCode.REFUSED;
    default:
      return ExitCode.TRANSPORT;
  }
}

export function runConsole(
  client: ApiClient,
  port: string,
  backlog: number,
  io: ConsoleIo,
): Promise<ExitCode> {
  const url = client.consoleUrl(port) + (backlog > 0 ? `?backlog=${backlog}` : "");
  const socket = new WebSocket(url, { headers: client.headers });
  const filter = new EscapeFilter();
  const raw = io.stdin.isTTY === true;
  // Node's raw mode keeps the terminal's output processing (ONLCR): "\n" is enough.
  const notice = (text: string): void => void io.stderr.write(`\n[sysrq-bridge] ${text}\n`);
  let lease: LeaseState = "waiting";
  let typedAhead: Buffer[] = [];
  let leaving = false;
  let toldReadOnly = false;
  // Typing (or a BREAK) was refused on the token's role, here or by the daemon (FORBIDDEN): the
  // session still reads, but its exit status says it was refused. Watching alone is not refused.
  let refused = false;
  let readRole = false;

  const sendInput = (bytes: Buffer): void => {
    if (lease === "held") socket.send(bytes, { binary: true });
    else if (lease === "waiting") typedAhead.push(bytes);
    else {
      if (readRole) refused = true;
      if (toldReadOnly) return;
      toldReadOnly = true;
      notice(
        readRole
          ? "FORBIDDEN: this token has the read role and may not type; nothing was sent (exit status 6)"
          : "read only: what you type is not sent (the writer lease is held elsewhere)",
      );
    }
  };
  const leave = (): void => {
    leaving = true;
    socket.close(1000, "bye");
  };
  const onStdin = (chunk: Buffer): void => {
    for (const event of filter.feed(chunk)) {
      switch (event.kind) {
        case "data":
          sendInput(event.bytes);
          break;
        case "break":
          if (readRole) sendInput(Buffer.alloc(0));
          else socket.send(JSON.stringify({ type: "break" }));
          break;
        case "help":
          io.stderr.write(ESCAPE_HELP);
          break;
        case "leave":
          return leave();
      }
    }
  };
  const onEnd = (): void => void setTimeout(leave, EOF_GRACE_MS).unref();

  const onControl = (message: ServerMessage): void => {
    switch (message.type) {
      case "hello":
        notice(
          `connected to ${message.port} as ${message.name} (${message.role}); ~. leaves, ~? lists escapes`,
        );
        if (message.role === "read") {
          // The daemon would refuse the lease: watch only, and say so if the user types.
          readRole = true;
          lease = "read-only";
          if (typedAhead.length > 0) sendInput(Buffer.concat(typedAhead)); // refused, and said so
          typedAhead = [];
          return;
        }
        socket.send(JSON.stringify({ type: "lease", action: "take" }));
        return;
      case "lease":
        if (message.yours && lease !== "held") {
          lease = "held";
          notice("you hold the writer lease");
          for (const bytes of typedAhead) socket.send(bytes, { binary: true });
          typedAhead = [];
        } else if (!message.yours && lease === "held") {
          lease = "read-only";
          notice(`the writer lease went to ${message.lease?.holder ?? "nobody"}: read only`);
        }
        return;
      case "error":
        if (lease === "waiting" && (message.code === "LEASE_HELD" || message.code === "FORBIDDEN")) {
          lease = "read-only";
          typedAhead = [];
        }
        if (message.code === "FORBIDDEN" || message.code === "UNAUTHORIZED") refused = true;
        notice(`${message.code}: ${message.message}`);
        return;
    }
  };

  return new Promise<ExitCode>((resolve) => {
    let result: ExitCode | null = null;
    const finish = (code: ExitCode): void => {
      if (result !== null) return;
      result = code;
      io.stdin.off("data", onStdin);
      io.stdin.off("end", onEnd);
      for (const signal of LEAVE_SIGNALS) process.off(signal, leave);
      if (raw) io.stdin.setRawMode(false);
      io.stdin.pause();
      resolve(code);
    };
    socket.on("unexpected-response", (_request, response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => {
        let message = body.trim();
        try {
          const parsed = JSON.parse(body) as { code?: string; message?: string };
          message = `${parsed.code ?? response.statusCode}: ${parsed.message ?? body}`;
        } catch {
          // not JSON: print it as it is
        }
        notice(`refused (${response.statusCode}) ${message}`);
        finish((response.statusCode ?? 500) < 500 ? ExitCode.REFUSED : ExitCode.TRANSPORT);
      });
    });
    socket.on("error", (err) => {
      notice(`cannot reach the console at ${url}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
      finish(ExitCode.TRANSPORT);
    });
    socket.on("open", () => {
      // Killed or hung up: leave cleanly, so the terminal is never left in raw mode.
      for (const signal of LEAVE_SIGNALS) process.once(signal, leave);
      if (raw) io.stdin.setRawMode(true);
      io.stdin.on("data", onStdin);
      io.stdin.on("end", onEnd);
      io.stdin.resume();
    });
    socket.on("message", (data, isBinary) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      if (isBinary) {
        io.stdout.write(bytes);
        return;
      }
      try {
        onControl(JSON.parse(bytes.toString("utf8")) as ServerMessage);
      } catch {
        notice("the daemon sent a control frame this CLI does not understand");
      }
    });
    socket.on("close", (code, reason) => {
      if (leaving) {
        notice("connection closed");
        return finish(refused ? ExitCode.REFUSED : ExitCode.OK);
      }
      notice(`the daemon closed the console (${code}${reason.length > 0 ? `: ${reason.toString()}` : ""})`);
      finish(closeExit(code));
    });
  });
}
