/**
 * ssh2 1.17's server drops the RFC 4335 `break` channel request (OpenSSH's `~B`): its CHANNEL_REQUEST
 * handler has no case for it. This hook wraps that handler on one connection and emits `break` on the
 * channel's Session instead, with the requested length. It leans on three internals of the pinned
 * ssh2 (package.json pins 1.17.0 exactly): `client._protocol._handlers.CHANNEL_REQUEST(proto,
 * recipient, type, wantReply, data)`, `client._chanMgr.get(recipient)` returning the Session that
 * the `session` event's accept() gave, and `session._chanInfo.outgoing.id`; test/unit/export/
 * ssh-break-hook.test.ts fails if any of them changes.
 */
import type { Connection } from "ssh2";

type ChannelRequestHandler = (
  proto: { channelSuccess(id: number): void },
  recipient: number,
  type: string,
  wantReply: boolean,
  data: unknown,
) => void;

interface Internals {
  readonly _protocol?: { _handlers?: { CHANNEL_REQUEST?: ChannelRequestHandler } };
  readonly _chanMgr?: { get(id: number): unknown };
}

interface SessionInternals {
  emit(event: "break", lengthMs: number): boolean;
  readonly _chanInfo?: { outgoing?: { id?: number } };
}

/** Makes `break` requests reach `session.on("break", (lengthMs) => ...)`; throws if ssh2 changed. */
export function hookBreakRequests(client: Connection): void {
  const internals = client as unknown as Internals;
  const handlers = internals._protocol?._handlers;
  const original = handlers?.CHANNEL_REQUEST;
  const channels = internals._chanMgr;
  if (handlers === undefined || typeof original !== "function" || typeof channels?.get !== "function")
    throw new Error("ssh2's internals changed: cannot intercept break requests (see ssh-break-hook.ts)");
  handlers.CHANNEL_REQUEST = (proto, recipient, type, wantReply, data) => {
    if (type !== "break") return original(proto, recipient, type, wantReply, data);
    const session = channels.get(recipient) as SessionInternals | undefined;
    if (typeof session !== "object" || session === null || typeof session.emit !== "function") return;
    // uint32 break-length in ms (RFC 4335); OpenSSH sends 1000. Missing: 0, the device's default.
    const lengthMs = Buffer.isBuffer(data) && data.length >= 4 ? data.readUInt32BE(0) : 0;
    session.emit("break", lengthMs);
    const id = session._chanInfo?.outgoing?.id;
    if (wantReply && id !== undefined) proto.channelSuccess(id);
  };
}
