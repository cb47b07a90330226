/**
 * Which Host and Origin may call the daemon. A page elsewhere must not type into a root shell, and
 * neither may a DNS-rebinding trick (evil.example resolving to 127.0.0.1 makes Origin and Host
 * agree): so without tokens (the anonymous caller is admin) every route answers only a loopback Host
 * and a browser Origin on that Host, and with tokens the console WebSocket still wants Origin = Host.
 */
import { isLoopbackHost } from "../../config/security.js";
import { BridgeError } from "../../errors.js";

function hostname(hostHeader: string): string {
  const host = hostHeader.startsWith("[")
    ? hostHeader.slice(1, hostHeader.indexOf("]"))
    : hostHeader.split(":")[0];
  return (host ?? "").toLowerCase();
}

/** A refusal (403 HOST_NOT_ALLOWED or ORIGIN_NOT_ALLOWED), or null. Clients without an Origin (the CLI, scripts) are not browsers. */
export function refuseOrigin(
  origin: string | undefined,
  host: string | undefined,
  authEnabled: boolean,
): BridgeError | null {
  if (host === undefined) return new BridgeError("HOST_NOT_ALLOWED", "no Host header");
  if (!authEnabled && !isLoopbackHost(hostname(host))) {
    return new BridgeError(
      "HOST_NOT_ALLOWED",
      `Host ${host} is not a loopback name; without tokens the daemon answers loopback names only (localhost, 127.0.0.1, [::1])`,
    );
  }
  if (origin === undefined) return null;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return new BridgeError("ORIGIN_NOT_ALLOWED", `Origin ${origin} is not a URL`);
  }
  return originHost.toLowerCase() === host.toLowerCase()
    ? null
    : new BridgeError("ORIGIN_NOT_ALLOWED", `Origin ${origin} is not this daemon (${host})`);
}
