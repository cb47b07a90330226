/**
 * `ssh vm0@bridge` with no command: the port's live console on the channel, as an `rw` re-export
 * client has it (client-session.ts): an operate key takes the writer lease at connect when it is free,
 * a read key only watches. The target's bytes go to stdout untouched; the daemon's own lines (the
 * greeting, refusals) go to stderr, so `ssh ... > file` records only the console. OpenSSH's `~B`
 * arrives as a `break` request (ssh-break-hook.ts) and is a BREAK under the console doors' rules: the
 * next key typed is the SysRq key, checked against the role. The writer's window size goes to the
 * port (an exec port's pty takes it; other wires ignore it).
 */
import type { ServerChannel } from "ssh2";
import type { ClientIdentity } from "../clients/console-client.js";
import type { ExportListenerConfig } from "../config/types.js";
import { ExportSession, type SessionDeps, type SessionStream } from "./client-session.js";

/** Bytes both ways, for the door's metrics. */
export interface ByteCounts {
  in: number;
  out: number;
}

/** A terminal's size as the client's pty-req and window-change requests carry it. */
export interface WindowSize {
  readonly cols: number;
  readonly rows: number;
}

/** Serves the console on `channel`; resolves once the session has closed and been audited. */
export function serveSshConsole(
  channel: ServerChannel,
  deps: Omit<SessionDeps, "listener" | "via">,
  who: ClientIdentity,
  address: string,
  bytes: ByteCounts,
  onBreak: (handler: () => void) => void,
  onWindow: (handler: (size: WindowSize) => void) => void,
): Promise<void> {
  // The door's listener settings: rw with notices; the identity is the key's token.
  const listener: ExportListenerConfig = {
    endpoint: { host: "", port: 0 },
    mode: "rw",
    actsAs: { name: who.name, role: who.role, ports: null },
    notices: true,
  };
  const stream: SessionStream = {
    write: (chunk: Buffer) => {
      bytes.out += chunk.length;
      return channel.write(chunk);
    },
    destroy: ((error?: Error) => {
      void error;
      channel.destroy();
      return stream;
    }) as SessionStream["destroy"],
    get destroyed() {
      return channel.destroyed;
    },
    pause: (() => {
      channel.pause();
      return stream;
    }) as SessionStream["pause"],
    resume: (() => {
      channel.resume();
      return stream;
    }) as SessionStream["resume"],
    get writableLength() {
      return channel.writableLength;
    },
  };
  const session = new ExportSession(stream, { ...deps, listener, via: "ssh" }, address);
  const notice = (text: string): void => {
    if (!channel.destroyed) channel.stderr.write(`\r\n[sysrq-bridge] ${deps.port.id}: ${text}\r\n`);
  };
  session.notice = notice;
  channel.on("data", (chunk: Buffer) => {
    bytes.in += chunk.length;
    session.input(chunk);
  });
  onBreak(() => void session.sendBreak());
  const closed = new Promise<void>((resolve) => channel.once("close", resolve));
  return (async () => {
    await session.start(null);
    // Only the writer sizes the program's terminal: a viewer's window must not reflow the writer's.
    onWindow((size) => {
      if (session.writer) deps.port.resizeTerminal(size.cols, size.rows);
    });
    notice(greeting(session, who));
    await closed;
    await session.closed();
  })();
}

function greeting(session: ExportSession, who: ClientIdentity): string {
  if (session.writer) return "you hold the writer lease (~B sends a BREAK; ~. disconnects)";
  if (!session.mayWrite) return `read only (${who.name} has the ${who.role} role)`;
  return `read only: the writer lease is held by ${session.leaseHolder() ?? "someone else"}`;
}
