/**
 * The lines the daemon itself writes into a re-export's stream: a greeting at connect (does what you
 * type reach the console?) and refusals (BREAK, input, SysRq key). A listener with `notices: false`
 * writes none, so a logging client (conserver) records only the target's bytes.
 */
import type { Socket } from "node:net";
import type { ExportSession, SessionDeps } from "./client-session.js";

/** Wires the session's refusals to the socket and returns the greeting, or null without notices. */
export function attachNotices(
  socket: Socket,
  session: ExportSession,
  deps: SessionDeps,
): (() => string) | null {
  if (!deps.listener.notices) return null;
  session.notice = (text) => {
    if (!socket.destroyed) socket.write(`\r\n[sysrq-bridge] ${deps.port.id}: ${text}\r\n`);
  };
  return () => greeting(session, deps);
}

/** One line telling a person whether what they type reaches the console, and why not. */
function greeting(session: ExportSession, deps: SessionDeps): string {
  const { port, listener } = deps;
  const as = listener.actsAs;
  let state: string;
  if (session.writer) state = "you hold the writer lease";
  else if (listener.mode === "ro") state = "read only (this listener is mode: ro)";
  else if (!session.mayWrite) state = `read only (token ${as.name} has the ${as.role} role)`;
  else state = `read only: the writer lease is held by ${session.leaseHolder() ?? "someone else"}`;
  return `\r\n[sysrq-bridge] ${port.id}: ${state}\r\n`;
}
